"""Tools: identical-call loop detection, output truncation with spill files, workspace confinement."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.config import ToolSettings
from core.loop.tools import (
    ListFiles,
    LoopState,
    ReadFile,
    ToolLoopDetector,
    ToolMode,
    changes_nothing,
    tools_for,
    truncate,
    workspace_tools,
)
from core.loop.workspace import OutsideWorkspace, PrivatePath, Workspace

# --- ToolLoopDetector -----------------------------------------------------------------------------


def expected_state(n: int) -> LoopState:
    """The documented thresholds: the 10th identical call warns, the 20th escalates, the 30th aborts."""
    if n >= 30:
        return LoopState.ABORT
    return {10: LoopState.WARN, 20: LoopState.ESCALATE}.get(n, LoopState.OK)


def test_identical_calls_hit_each_threshold_exactly() -> None:
    detector = ToolLoopDetector()
    for n in range(1, 36):
        state, count = detector.observe("read_file", {"path": "a.txt"})
        assert count == n
        assert state is expected_state(n), f"call {n}"


def test_reference_thresholds_from_settings_defaults() -> None:
    settings = ToolSettings()
    detector = ToolLoopDetector(settings.loop_warning, settings.loop_escalate, settings.loop_abort)
    states = [detector.observe("t", {})[0] for _ in range(30)]
    assert states.index(LoopState.WARN) == 9
    assert states.index(LoopState.ESCALATE) == 19
    assert states.index(LoopState.ABORT) == 29
    assert states.count(LoopState.OK) == 27


def test_different_arguments_are_counted_separately() -> None:
    detector = ToolLoopDetector()
    for n in range(1, 10):
        assert detector.observe("read_file", {"path": "a.txt"}) == (LoopState.OK, n)
        assert detector.observe("read_file", {"path": "b.txt"}) == (LoopState.OK, n)
        assert detector.observe("list_files", {"path": "a.txt"}) == (LoopState.OK, n)
    assert detector.observe("read_file", {"path": "a.txt"}) == (LoopState.WARN, 10)
    assert detector.observe("read_file", {"path": "b.txt"}) == (LoopState.WARN, 10)
    assert detector.observe("read_file", {"path": "c.txt"}) == (LoopState.OK, 1)


def test_argument_key_order_does_not_matter() -> None:
    detector = ToolLoopDetector()
    for n in range(1, 11):
        args = {"path": "x", "limit": 5, "opts": {"a": 1, "b": [1, 2]}}
        if n % 2:
            args = {"opts": {"b": [1, 2], "a": 1}, "limit": 5, "path": "x"}
        state, count = detector.observe("search", args)
        assert count == n
    assert state is LoopState.WARN
    assert len(detector.counts) == 1


def test_custom_thresholds() -> None:
    detector = ToolLoopDetector(warning=2, escalate=3, abort=4)
    assert [detector.observe("t", {"x": 1})[0] for _ in range(5)] == [
        LoopState.OK,
        LoopState.WARN,
        LoopState.ESCALATE,
        LoopState.ABORT,
        LoopState.ABORT,
    ]


# --- truncate -------------------------------------------------------------------------------------------


def test_output_within_limits_is_unchanged(tmp_path: Path) -> None:
    settings = ToolSettings(max_output_lines=5, max_output_bytes=100)
    text = "one\ntwo\nthree\nfour\nfive\n"
    assert truncate(text, settings, tmp_path / "spill") == text
    assert not (tmp_path / "spill").exists()


def test_truncate_by_lines_spills_the_full_output(tmp_path: Path) -> None:
    settings = ToolSettings(max_output_lines=5, max_output_bytes=10_000)
    lines = [f"line {i}" for i in range(20)]
    text = "\n".join(lines)
    spill = tmp_path / "spill"
    result = truncate(text, settings, spill)

    assert result.startswith("\n".join(lines[:5]) + "\n[output truncated: 20 lines")
    assert "line 5" not in result
    files = list(spill.iterdir())
    assert len(files) == 1
    assert f"full output saved to {files[0]}" in result
    assert result.endswith("]")
    assert files[0].read_text(encoding="utf-8") == text


def test_truncate_by_bytes(tmp_path: Path) -> None:
    settings = ToolSettings(max_output_lines=1_000, max_output_bytes=50)
    text = "x" * 200
    result = truncate(text, settings, tmp_path)
    kept, note = result.split("\n[output truncated: ", 1)
    assert kept == "x" * 50
    assert note.startswith("1 lines, 200 bytes")


def test_truncate_without_spill_dir_has_no_file_note() -> None:
    settings = ToolSettings(max_output_lines=2, max_output_bytes=10_000)
    result = truncate("a\nb\nc\nd", settings, None)
    assert result == "a\nb\n[output truncated: 4 lines, 7 bytes]"


def test_identical_outputs_share_one_spill_file(tmp_path: Path) -> None:
    settings = ToolSettings(max_output_lines=1, max_output_bytes=10_000)
    first = truncate("a\nb", settings, tmp_path)
    second = truncate("a\nb", settings, tmp_path)
    third = truncate("a\nc", settings, tmp_path)
    assert first == second
    assert third != first
    assert len(list(tmp_path.iterdir())) == 2


@pytest.mark.parametrize("limit", range(1, 13))
@pytest.mark.parametrize("text", ["Grüße", "東京東京", "🚀🚀🚀", "aé東🚀aé東🚀"])
def test_multibyte_text_is_not_cut_mid_character(text: str, limit: int, tmp_path: Path) -> None:
    settings = ToolSettings(max_output_lines=1_000, max_output_bytes=limit)
    text = text * 3
    result = truncate(text, settings, tmp_path)
    kept = result.split("\n[output truncated: ", 1)[0]
    assert "\ufffd" not in kept
    assert text.startswith(kept)  # a prefix made of whole characters
    assert len(kept.encode("utf-8")) <= limit
    # As many whole characters as fit: adding the next one would pass the limit.
    assert len(text[: len(kept) + 1].encode("utf-8")) > limit
    spilled = next(iter(tmp_path.iterdir())).read_text(encoding="utf-8")
    assert spilled == text


# --- workspace tools ------------------------------------------------------------------------------------


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "pkg" / "mod.py").write_text("print('hi')\n", encoding="utf-8")
    (root / "README.md").write_text("# Grüße 東京 🚀\n", encoding="utf-8")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("secret", encoding="utf-8")
    (root / ".env").write_text("KEY=1", encoding="utf-8")
    (tmp_path / "outside.txt").write_text("outside", encoding="utf-8")
    (tmp_path / "ws-evil").mkdir()  # a sibling whose name starts with the workspace's name
    (tmp_path / "ws-evil" / "secret.txt").write_text("evil", encoding="utf-8")
    return root


async def test_read_file_inside_the_workspace(workspace: Path) -> None:
    tool = ReadFile(Workspace.at(workspace))
    assert await tool.run({"path": "README.md"}) == "# Grüße 東京 🚀\n"
    assert await tool.run({"path": "src/pkg/../pkg/mod.py"}) == "print('hi')\n"


async def test_read_file_missing_is_an_error_message(workspace: Path) -> None:
    assert (await ReadFile(Workspace.at(workspace)).run({"path": "nope.txt"})).startswith(
        "error: no file at 'nope.txt'"
    )
    assert (await ReadFile(Workspace.at(workspace)).run({"path": "src"})).startswith("error: no file")


@pytest.mark.parametrize(
    "path",
    [
        "../outside.txt",
        "src/../../outside.txt",
        "../ws-evil/secret.txt",
        "{parent}/outside.txt",  # absolute, just outside
        "/etc/passwd",
    ],
    ids=["parent", "nested-parent", "sibling-prefix", "absolute-outside", "absolute-system"],
)
async def test_read_file_refuses_paths_outside(workspace: Path, path: str) -> None:
    with pytest.raises(ValueError, match="outside the workspace"):
        await ReadFile(Workspace.at(workspace)).run({"path": path.format(parent=workspace.parent)})


async def test_read_file_refuses_a_symlink_that_leaves_the_workspace(workspace: Path) -> None:
    try:
        os.symlink(workspace.parent / "outside.txt", workspace / "link.txt")
    except OSError:
        pytest.skip("symlinks not supported here")
    with pytest.raises(ValueError, match="outside the workspace"):
        await ReadFile(Workspace.at(workspace)).run({"path": "link.txt"})


async def test_list_files_inside_the_workspace(workspace: Path) -> None:
    tool = ListFiles(Workspace.at(workspace))
    listing = (await tool.run({})).splitlines()
    assert listing == ["README.md", str(Path("src/pkg/mod.py"))]  # dot files and dot dirs are hidden
    assert (await tool.run({"path": "src"})).splitlines() == [str(Path("src/pkg/mod.py"))]
    assert (await tool.run({"path": "."})).splitlines() == listing


async def test_list_files_empty_and_missing(workspace: Path) -> None:
    (workspace / "empty").mkdir()
    assert await ListFiles(Workspace.at(workspace)).run({"path": "empty"}) == "(empty)"
    assert (await ListFiles(Workspace.at(workspace)).run({"path": "missing"})).startswith("error: no directory")


@pytest.mark.parametrize("path", ["..", "../ws-evil", "src/../..", "/", "/etc"])
async def test_list_files_refuses_paths_outside(workspace: Path, path: str) -> None:
    with pytest.raises(ValueError, match="outside the workspace"):
        await ListFiles(Workspace.at(workspace)).run({"path": path})


def test_workspace_tools_are_read_and_list(workspace: Path) -> None:
    assert [t.name for t in workspace_tools(workspace)] == ["read_file", "list_files"]


# --- what stays private inside the workspace (issue 8, defect 1) -----------------------------------------


@pytest.fixture
def crowded(workspace: Path) -> Path:
    """A workspace holding every kind of private file next to ordinary ones."""
    for name in ("server.pem", "deploy.KEY", "id_rsa", "id_ed25519.pub", "credentials.json", "app.db", "app.db-wal"):
        (workspace / name).write_text("private", encoding="utf-8")
    (workspace / "src" / ".env.local").write_text("DB_PASSWORD=hunter22", encoding="utf-8")
    (workspace / "credentials").mkdir()
    (workspace / "credentials" / "aws.txt").write_text("private", encoding="utf-8")
    (workspace / "notes.txt").write_text("public notes", encoding="utf-8")
    return workspace


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        "./.env",
        "src/../.env",
        ".git/config",
        "src/.env.local",
        "server.pem",
        "deploy.KEY",
        "id_rsa",
        "id_ed25519.pub",
        "credentials.json",
        "credentials/aws.txt",
        "app.db",
        "app.db-wal",
    ],
)
async def test_read_file_refuses_dotfiles_keys_credentials_and_databases(crowded: Path, path: str) -> None:
    with pytest.raises(PrivatePath, match="private"):
        await ReadFile(Workspace.at(crowded)).run({"path": path})


async def test_list_files_does_not_even_name_private_entries(crowded: Path) -> None:
    listing = (await ListFiles(Workspace.at(crowded)).run({})).splitlines()
    assert listing == ["README.md", "notes.txt", str(Path("src/pkg/mod.py"))]
    for path in (".git", "credentials", "src/.env.local"):
        with pytest.raises(PrivatePath):
            await ListFiles(Workspace.at(crowded)).run({"path": path})


async def test_a_symlink_to_a_private_file_or_with_a_private_name_is_refused(workspace: Path) -> None:
    os.symlink(workspace / ".env", workspace / "harmless.txt")
    os.symlink(workspace / "README.md", workspace / ".alias")
    os.symlink(workspace / ".git", workspace / "gitdir")
    tool = ReadFile(Workspace.at(workspace))
    for path in ("harmless.txt", ".alias", "gitdir/config"):
        with pytest.raises(PrivatePath):
            await tool.run({"path": path})
    assert (await ListFiles(Workspace.at(workspace)).run({})).splitlines() == ["README.md", str(Path("src/pkg/mod.py"))]


async def test_a_hard_link_counts_as_outside(workspace: Path) -> None:
    os.link(workspace.parent / "outside.txt", workspace / "looks-local.txt")
    with pytest.raises(OutsideWorkspace, match="hard link"):
        await ReadFile(Workspace.at(workspace)).run({"path": "looks-local.txt"})
    assert "looks-local.txt" not in await ListFiles(Workspace.at(workspace)).run({})


async def test_openkoi_own_directories_inside_the_workspace_stay_private(workspace: Path) -> None:
    state = workspace / "state"
    (state / "sessions").mkdir(parents=True)
    (state / "sessions" / "task.md").write_text("an earlier task's output", encoding="utf-8")
    tool = ReadFile(Workspace.at(workspace, private=[state]))
    with pytest.raises(PrivatePath, match="openkoi's own files"):
        await tool.run({"path": "state/sessions/task.md"})
    listing = await ListFiles(Workspace.at(workspace, private=[state])).run({})
    assert "task.md" not in listing and "README.md" in listing


@pytest.mark.parametrize("path", ["proc/self/environ", "/proc/self/environ", "sys/kernel/hostname", "dev/zero"])
async def test_proc_sys_and_dev_are_refused_even_with_the_workspace_at_root(path: str) -> None:
    with pytest.raises(PrivatePath):
        await ReadFile(Workspace.at(Path("/"))).run({"path": path})


async def test_a_fifo_is_not_a_file_and_does_not_hang_the_tool(workspace: Path) -> None:
    os.mkfifo(workspace / "pipe")
    assert (await ReadFile(Workspace.at(workspace)).run({"path": "pipe"})).startswith("error: no file")
    assert "pipe" not in await ListFiles(Workspace.at(workspace)).run({})


def test_workspace_tools_keep_openkoi_directories_private(workspace: Path) -> None:
    tools = workspace_tools(workspace, private=[workspace / "data"])
    assert all(isinstance(t, ReadFile | ListFiles) and t.workspace.root == workspace.resolve() for t in tools)
    assert (workspace / "data").resolve() in tools[0].workspace.private_trees  # type: ignore[attr-defined]


class _Unsaid:
    """A tool that does not say whether it changes anything."""

    name = "restart_worker"
    description = "Restart a worker."
    parameters: dict[str, object] = {}  # noqa: RUF012

    async def run(self, arguments: dict[str, object]) -> str:
        return "restarted"


def test_read_only_mode_keeps_only_the_tools_that_say_they_change_nothing(tmp_path: Path) -> None:
    files = workspace_tools(tmp_path)
    assert all(changes_nothing(tool) for tool in files), "the file tools declare themselves read-only"
    unsaid = _Unsaid()
    assert not changes_nothing(unsaid)
    every = [*files, unsaid]
    assert tools_for(ToolMode.ACT, every) == every
    assert tools_for(ToolMode.READ_ONLY, every) == files
