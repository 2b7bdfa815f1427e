"""`openkoi think --skill`, `openkoi task rate` and `openkoi skills list|show`, end to end: the console
script in a subprocess with a temporary OPENKOI_HOME, against the fake model server."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.fakes.model_server import FakeModelServer, prompt_text
from tests.support import write_skill as skill
from tests.terminal.test_e2e import env, openkoi, server

__all__ = ["env", "server"]  # fixtures shared with test_cli_e2e

RELEASE = "MARKER-RELEASE: lead with breaking changes."


def database(env: dict[str, str]) -> sqlite3.Connection:
    return sqlite3.connect(Path(env["OPENKOI_HOME"]) / "data" / "openkoi.db")


def test_think_with_a_skill_then_rate_it(env: dict[str, str], server: FakeModelServer, tmp_path: Path) -> None:
    project = tmp_path / "project"
    skill(project / ".agents" / "skills", "release-notes", "Write release notes.", RELEASE)

    unknown = openkoi(env, "think", "--skill", "release-note", "summarise the changes", cwd=project)
    assert unknown.returncode == 2
    assert "error: there is no task skill named 'release-note'. Did you mean 'release-notes'?" in unknown.stderr
    assert server.requests == [], "nothing is stored or asked before the skill is known"

    done = openkoi(env, "think", "--skill", "release-notes", "summarise the changes", cwd=project)
    assert done.returncode == 0, done.stderr
    assert "[SKILL] release-notes (asked for)" in done.stderr
    assert RELEASE in prompt_text(server.requests_of("Plan")[0])
    assert RELEASE in prompt_text(server.requests_of("execute")[0])
    with database(env) as db:
        ((task_id,),) = db.execute("SELECT id FROM tasks").fetchall()
        assert db.execute("SELECT skill, forced FROM task_skills").fetchall() == [("release-notes", 1)]

    up = openkoi(env, "task", "rate", task_id[:6], "up", "--note", "clear and short")
    assert up.returncode == 0, up.stderr
    assert f"👍 recorded for task {task_id[:8]} (now 👍 1 · 👎 0)" in up.stdout
    assert "skill release-notes: effectiveness 0.95 (1 scored task, 👍 1 / 👎 0)" in up.stdout
    down = openkoi(env, "task", "rate", task_id, "down")
    assert down.returncode == 0, down.stderr
    assert f"👎 recorded for task {task_id[:8]}, was 👍 (now 👍 0 · 👎 1)" in down.stdout
    assert "effectiveness 0.45 (1 scored task, 👍 0 / 👎 1)" in down.stdout
    with database(env) as db:
        assert db.execute("SELECT vote, note, voter LIKE 'terminal:%' FROM feedback").fetchall() == [
            (-1, "clear and short", 1)
        ]
        assert db.execute("SELECT feedback_up, feedback_down, platform FROM usage_events").fetchall() == [
            (0, 1, "terminal")
        ]

    shown = openkoi(env, "task", "show", task_id)
    assert "skills   release-notes (asked for)" in shown.stdout and "feedback 👍 0 · 👎 1" in shown.stdout
    listed = openkoi(env, "skills", "list", cwd=project)
    assert any(
        line.split()[:3] == ["task", "release-notes", "workspace"] and "0.45 (1 scored task, 👍 0 / 👎 1)" in line
        for line in listed.stdout.splitlines()
    ), listed.stdout
    refused = openkoi(env, "task", "rate", "ffff", "up")
    assert refused.returncode == 2 and "no task with id 'ffff'" in refused.stderr

    # Effectiveness is kept per version (source + content hash): an edited skill starts its own record.
    with database(env) as db:
        ((version,),) = db.execute("SELECT version FROM task_skills").fetchall()
    view = openkoi(env, "skills", "show", "release-notes", cwd=project).stdout.splitlines()
    assert f"version        {version} (content hash of its SKILL.md, in source workspace)" in view
    assert "effectiveness  0.45 (1 scored task, 👍 0 / 👎 1) (this version)" in view
    skill(project / ".agents" / "skills", "release-notes", "Write release notes.", RELEASE + " And be brief.")
    view = openkoi(env, "skills", "show", "release-notes", cwd=project).stdout.splitlines()
    assert "effectiveness  not measured yet (this version)" in view
    assert "other versions 0.45 (1 scored task, 👍 0 / 👎 1) over 1 other version" in view
    with database(env) as db:  # a use recorded before versions were kept
        db.execute("UPDATE task_skills SET version = NULL")
    view = openkoi(env, "skills", "show", "release-notes", cwd=project).stdout.splitlines()
    assert "before versions 0.45 (1 scored task, 👍 0 / 👎 1) (recorded before versions were kept)" in view
    assert not any(line.startswith("other versions") for line in view)


def test_skills_list_and_show(env: dict[str, str], tmp_path: Path) -> None:
    home, project = Path(env["OPENKOI_HOME"]), tmp_path / "project"
    managed = skill(home / "skills" / "managed", "self-iterate", "Our own take on self-iteration.", "Be careful.")
    skill(project / ".agents" / "skills", "release-notes", "Write release notes.", RELEASE, "user-invocable: false\n")
    skill(home / "skills" / "user", "gh-triage", "Triage issues.", "x", "requires:\n  bins: [gh-not-installed-here]\n")
    broken = home / "skills" / "proposed" / "broken" / "SKILL.md"
    broken.parent.mkdir(parents=True)
    broken.write_text("---\nname: [oops\n---\n", "utf-8")

    listed = openkoi(env, "skills", "list", cwd=project)
    assert listed.returncode == 0, listed.stderr
    rows = {tuple(line.split()[:3]): line for line in listed.stdout.splitlines()[1:] if not line.startswith("skipped")}
    assert "[overrides bundled]" in rows[("task", "self-iterate", "managed")]
    assert "not measured yet" in rows[("task", "self-iterate", "managed")]
    assert "[not by name]" in rows[("task", "release-notes", "workspace")]
    assert "[ineligible here: needs program gh-not-installed-here]" in rows[("task", "gh-triage", "user")]
    assert rows[("evaluator", "general", "bundled")].split()[3] == "-"
    assert f"skipped task skill: {broken}: front matter is not valid YAML" in listed.stdout

    shown = openkoi(env, "skills", "show", "self-iterate", cwd=project)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[:3] == ["self-iterate (task skill)", f"source         managed ({managed})", "overrides      bundled"]
    assert "by name        yes (openkoi think --skill self-iterate …, /think --skill self-iterate …)" in lines
    assert "effectiveness  not measured yet (this version)" in lines and lines[-1] == "Be careful."
    rubric = openkoi(env, "skills", "show", "general")
    assert "general (evaluator rubric)" in rubric.stdout
    assert "dimensions     relevance 0.40, quality 0.35, completeness 0.25" in rubric.stdout
    missing = openkoi(env, "skills", "show", "self-iterat")
    assert missing.returncode == 2 and "no skill named 'self-iterat'; did you mean 'self-iterate'?" in missing.stderr
