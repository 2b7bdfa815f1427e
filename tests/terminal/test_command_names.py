"""Command names are never tasks (issue 16, defect 6): the seeds' command names run the command or say it
does not exist yet (exit 2), with nothing stored and no model asked; a task of several words is still a
task, and ``openkoi think …`` always is. The rule (``bots.command_names``) and its table against the CLI."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import click
import pytest

from bots.command_names import FORMS, NAMES, named_command
from bots.terminal.cli import cli
from tests.fakes.model_server import FakeModelServer
from tests.terminal import test_e2e as e2e

server = e2e.server
env = e2e.env
openkoi = e2e.openkoi


def tasks_stored(env: dict[str, str]) -> int:
    db = Path(env["OPENKOI_HOME"]) / "data" / "openkoi.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM tasks").fetchone()[0])


@pytest.mark.parametrize(
    ("args", "form"),
    [
        (["Setup"], "setup"),
        (["chat"], "chat"),
        (["chat", "--resume", "abc1"], "chat"),
        (["connect"], "connect"),
        (["connect", "copilot"], "connect copilot"),
        (["disconnect", "all"], "disconnect all"),
        (["setup"], "setup"),
        (["dashboard"], "dashboard"),
        (["update"], "update"),
        (["soul", "diff"], "soul diff"),
        (["connect", "status"], "connect status"),
        (["soul history"], "soul history"),
        (["soul", "evolve"], "soul evolve"),
    ],
    ids=lambda value: "-".join(value).replace(" ", "_") if isinstance(value, list) else "",
)
def test_seed_command_names_are_never_tasks(
    env: dict[str, str], server: FakeModelServer, tmp_path: Path, args: list[str], form: str
) -> None:
    done = openkoi(env, *args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"'{form}' is not an openkoi command yet." in done.stderr, done.stderr
    assert "To run it as a task: openkoi think " in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""
    assert server.requests == [], "no model was asked"
    assert tasks_stored(env) == 0


def test_what_to_use_instead_is_named(env: dict[str, str], server: FakeModelServer, tmp_path: Path) -> None:
    disconnect = openkoi(env, "disconnect", cwd=tmp_path)
    assert "Instead: unset the provider's key variable" in disconnect.stderr
    assert "To run it as a task: openkoi think disconnect" in disconnect.stderr
    setup = openkoi(env, "setup", cwd=tmp_path)
    assert "Instead: `openkoi doctor` checks the configuration" in setup.stderr
    evolve = openkoi(env, "soul", "evolve", cwd=tmp_path)
    assert "'soul evolve' is not an openkoi command yet." in evolve.stderr
    assert "To run it as a task: openkoi think soul evolve" in evolve.stderr
    assert server.requests == []


@pytest.mark.parametrize("args", [["init"], ["Init"]])
def test_init_is_a_command_now_and_never_a_task(
    env: dict[str, str], server: FakeModelServer, tmp_path: Path, args: list[str]
) -> None:
    done = openkoi(env, *args, cwd=tmp_path)  # stdin is closed: its first question is not answered
    assert done.stdout.startswith("Model, as provider/model"), done.stdout
    assert done.returncode == 1 and "Aborted!" in done.stderr and "To run it as a task" not in done.stderr
    assert server.requests == [] and tasks_stored(env) == 0
    assert not (Path(env["OPENKOI_HOME"]) / "config.toml").exists()


@pytest.mark.parametrize("args", [["trust"], ["trust", "show"], ["trust show"]])
def test_trust_is_a_command_now_and_never_a_task(
    env: dict[str, str], server: FakeModelServer, tmp_path: Path, args: list[str]
) -> None:
    done = openkoi(env, *args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "database" in done.stdout and "ask" in done.stdout, done.stdout
    assert server.requests == [] and tasks_stored(env) == 0


@pytest.mark.parametrize("args", [["soul"], ["soul", "show"], ["soul show"], ["Soul", "show"]])
def test_a_command_named_that_exists_runs(
    env: dict[str, str], server: FakeModelServer, tmp_path: Path, args: list[str]
) -> None:
    done = openkoi(env, *args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("SOUL.md in force: the bundled default — Soul\n")
    assert server.requests == [] and tasks_stored(env) == 0


def test_a_task_of_several_words_is_still_a_task_and_think_always_is(
    env: dict[str, str], server: FakeModelServer, tmp_path: Path
) -> None:
    several = openkoi(env, "update the changelog for the release", "--quiet", cwd=tmp_path)
    assert several.returncode == 0, several.stderr
    asked = len(server.requests)
    assert asked > 0
    explicit = openkoi(env, "think", "init", "--quiet", cwd=tmp_path)
    assert explicit.returncode == 0, explicit.stderr
    assert len(server.requests) > asked and tasks_stored(env) == 2
    with sqlite3.connect(Path(env["OPENKOI_HOME"]) / "data" / "openkoi.db") as conn:
        descriptions = sorted(r[0] for r in conn.execute("SELECT description FROM tasks"))
    assert descriptions == ["init", "update the changelog for the release"]


@pytest.mark.parametrize(
    ("words", "form"),
    [
        (["init"], "init"),
        (["INIT"], "init"),
        (["soul", "show"], "soul show"),
        (["Soul", "Show", "please"], "soul show"),
        (["world", "tols"], "world"),  # a typo of a subcommand: the command (which says it does not exist)
        (["soul", "shwo"], "soul"),  # the command, whose group then says "did you mean 'show'"
        (["trust", "grant", "deploy", "act"], "trust grant"),
        (["chat", "--resume", "abc1"], "chat"),
        (["world", "tools", "read_file"], "world tools"),
        (["update", "README"], "update"),
        (["mind"], "mind"),
    ],
)
def test_the_words_that_name_a_command(words: list[str], form: str) -> None:
    named = named_command(words)
    assert named is not None and named.form.text == form
    assert named.words[len(named.form.words) :] == tuple(words[len(named.form.words) :]), "the rest as typed"


@pytest.mark.parametrize(
    "words",
    [
        ["update", "the", "changelog"],
        ["chat", "with", "the", "team", "about", "the", "outage"],
        ["trust", "the", "process"],
        ["soul", "searching"],  # "soul" has subcommands: a second word that is none of them is a task
        ["task", "0"],
        ["summarise", "the", "README"],
        ["deploy"],
        [],
    ],
)
def test_words_that_are_a_task(words: list[str]) -> None:
    assert named_command(words) is None


def test_the_table_agrees_with_the_cli() -> None:
    """A form marked as existing in the terminal is a command of the CLI, and one marked as not existing yet
    is not (flip the mark when the command arrives): chat's answers rely on the marks."""
    ctx = click.Context(cli)
    for form in FORMS:
        group: click.Command | None = cli.get_command(ctx, form.words[0])
        command = group
        if len(form.words) == 2 and isinstance(group, click.Group):
            command = group.get_command(click.Context(group, parent=ctx), form.words[1])
        elif len(form.words) == 2:
            command = None
        assert (command is not None) == form.in_terminal, form
        assert form.in_terminal or form.instead, f"{form.text}: say what to use instead"
    assert all(named_command([name]) is not None for name in NAMES), "every name has its one-word form"
