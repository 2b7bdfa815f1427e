"""Owner-only files (issue 8, defect 6): whatever the umask, openkoi's directories are 0700 and its files 0600."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import Settings, ToolSettings
from core.engine import Engine
from core.files import private_dir, write_private
from core.loop.tools import truncate
from core.store import Store
from tests.fakes.model_server import FakeModelServer


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    """The usual default umask, which leaves new files readable by everyone."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


async def test_database_with_its_wal_and_shm_and_saved_outputs_are_owner_only(
    settings: Settings, model_env: FakeModelServer, tmp_path: Path
) -> None:
    async with Store(settings.db_path) as store:
        engine = Engine(settings, store, workspace=None)
        task = await engine.submit("write a haiku")
        done = await engine.run(task.id)
        data = settings.data_dir
        wal, shm = (data / "openkoi.db-wal"), (data / "openkoi.db-shm")
        assert wal.exists() and shm.exists(), "WAL mode keeps these while the database is open"
        output = data / "sessions" / done.session_id / f"{task.id}.md"
        assert output.read_text(encoding="utf-8").endswith("The answer.\n")
        for directory in (data, data / "sessions", output.parent):
            assert mode(directory) == 0o700, directory
        for file in (settings.db_path, wal, shm, output):
            assert mode(file) == 0o600, file
    home = settings.config_dir
    assert mode(home) == 0o700, "OPENKOI_HOME was created by openkoi as the data directory's parent"


async def test_an_existing_world_readable_database_is_tightened(settings: Settings, tmp_path: Path) -> None:
    data = settings.data_dir
    data.mkdir(parents=True, mode=0o755)
    os.chmod(data, 0o755)
    async with Store(settings.db_path):
        pass
    os.chmod(settings.db_path, 0o644)
    async with Store(settings.db_path):
        assert mode(data) == 0o700
        assert mode(settings.db_path) == 0o600


def test_tool_output_spill_files_are_owner_only(tmp_path: Path) -> None:
    spill = tmp_path / "data" / "tool-output"
    result = truncate("a\nb\nc", ToolSettings(max_output_lines=1), spill)
    [file] = list(spill.iterdir())
    assert str(file) in result
    assert mode(spill) == 0o700 and mode(file) == 0o600


def test_write_private_replaces_atomically_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "d" / "out.md"
    write_private(target, "first")
    os.chmod(target, 0o644)
    write_private(target, "second")
    assert target.read_text(encoding="utf-8") == "second"
    assert mode(target) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["out.md"]
    assert mode(private_dir(tmp_path / "d")) == 0o700
