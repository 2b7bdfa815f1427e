"""The gate at the terminal, end to end: the issue's destructive task ends blocked (exit 3) with the rule named
beside the Guardian's ballot whatever the model says; ``--yes`` alone never overrides a floor match;
``openkoi trust`` shows, grants, revokes and audits; ``mind parliament`` shows the gate's part."""

from __future__ import annotations

import getpass
import re
from pathlib import Path

import pytest

from tests.core.gate.test_gate_engine import COPIED_EXAMPLE, ISSUE_TASK
from tests.fakes import scripts
from tests.fakes.model_server import FakeModelServer, Reply, json_reply
from tests.terminal import test_e2e as e2e

server = e2e.server
env = e2e.env
openkoi = e2e.openkoi

APPROVES_NONE_HIGH = scripts.parliament(reversibility="NONE", blast_radius="HIGH")


def approve_id(stderr: str) -> str:
    found = re.search(r"or run: openkoi task approve ([0-9a-f]{8})$", stderr, re.M)
    assert found is not None, stderr
    return found.group(1)


@pytest.mark.parametrize(
    "reply",
    [pytest.param(None, id="approves-everything"), pytest.param(json_reply(COPIED_EXAMPLE), id="copies-the-example")],
)
def test_the_issue_task_exits_3_naming_the_rule_beside_the_guardians_ballot(
    env: dict[str, str], server: FakeModelServer, tmp_path: Path, reply: Reply | None
) -> None:
    if reply is not None:
        server.script.default("ParliamentReply", reply)
    blocked = openkoi(env, ISSUE_TASK, cwd=tmp_path)
    assert blocked.returncode == 3, blocked.stderr
    assert blocked.stdout == ""
    err = blocked.stderr
    assert "Blocked: the Guardian gave no usable judgement" in err
    assert "  floor: database.destroy (database): " in err and '— "drop the production database"' in err
    assert "  floor: backups.destroy (backups): " in err
    assert '  Guardian: APPROVE — "' in err and "(reversibility FULL, blast radius LOW" in err
    assert "✓ Done" not in err and not server.requests_of("execute")
    approve_id(err)


def test_yes_alone_never_overrides_a_floor_match_but_a_person_approving_does(
    env: dict[str, str], server: FakeModelServer, tmp_path: Path
) -> None:
    server.script.default("ParliamentReply", APPROVES_NONE_HIGH)
    refused = openkoi(env, ISSUE_TASK, "--override", "--yes", cwd=tmp_path)
    assert refused.returncode == 3, refused.stderr
    assert "the rule floor matched, so --yes does not answer for a person" in refused.stderr
    assert "Blocked: the rule floor matched database.destroy, backups.destroy" in refused.stderr
    assert not server.requests_of("execute")

    approved = openkoi(env, "task", "approve", approve_id(refused.stderr), cwd=tmp_path)
    assert approved.returncode == 0, approved.stderr
    assert f"Override approved by {getpass.getuser()}" in approved.stderr
    assert len(server.requests_of("execute")) == 1
    audit = openkoi(env, "trust", "audit", "database")
    assert re.search(
        r"task [0-9a-f]{8}  blocked \(floor\) · trust ask · database, backups, infrastructure", audit.stdout
    )
    assert f"overridden (floor) by {getpass.getuser()}" in audit.stdout


def test_each_trust_level_from_the_terminal(env: dict[str, str], server: FakeModelServer, tmp_path: Path) -> None:
    server.script.default("ParliamentReply", APPROVES_NONE_HIGH)
    for domain in ("database", "backups", "infrastructure"):
        granted = openkoi(env, "trust", "grant", domain, "suggest", "--reason", "dry runs this week")
        assert granted.returncode == 0, granted.stderr
    suggested = openkoi(env, ISSUE_TASK, cwd=tmp_path)
    assert suggested.returncode == 0, suggested.stderr
    assert suggested.stdout.startswith("PROPOSAL — nothing was done; a person acts on it.\n")
    assert "the task runs read-only and its result is a proposal" in suggested.stderr

    for domain in ("database", "backups", "infrastructure"):
        assert openkoi(env, "trust", "grant", domain, "act").returncode == 0
    acted = openkoi(env, ISSUE_TASK, cwd=tmp_path)
    assert acted.returncode == 3 and "at task level a floor match still asks a person" in acted.stderr

    for domain in ("database", "backups", "infrastructure"):
        assert openkoi(env, "trust", "grant", domain, "autonomous", "--for", "1h").returncode == 0
    autonomous = openkoi(env, ISSUE_TASK, cwd=tmp_path)
    assert autonomous.returncode == 0, autonomous.stderr
    assert "recorded in the audit" in autonomous.stderr and not autonomous.stdout.startswith("PROPOSAL")

    server.script.queue("ParliamentReply", scripts.parliament(votes={"guardian": "BLOCK"}, reversibility="NONE"))
    guarded = openkoi(env, ISSUE_TASK, cwd=tmp_path)
    assert guarded.returncode == 3, "the Guardian's own block stops a task even at autonomous"


def test_trust_show_grant_revoke_and_audit(env: dict[str, str], tmp_path: Path) -> None:
    home = Path(env["OPENKOI_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text('[gate]\ndomains = ["payments-eu"]\n', encoding="utf-8")
    shown = openkoi(env, "trust", "show")
    assert shown.returncode == 0, shown.stderr
    for domain in ("database", "deploy", "messaging", "code", "files", "payments-eu"):
        assert re.search(rf"^{re.escape(domain)} +ask +\(default\)$", shown.stdout, re.M), domain
    assert openkoi(env, "trust").stdout == shown.stdout, "bare trust is trust show"

    user = getpass.getuser()
    granted = openkoi(env, "trust", "grant", "Deploy", "autonomous", "--for", "7d", "--reason", "release week")
    assert granted.returncode == 0, granted.stderr
    assert granted.stdout.startswith(f"deploy: autonomous — granted by {user} via terminal on ")
    assert '(7d left): "release week"' in granted.stdout
    assert openkoi(env, "trust", "grant", "payments-eu", "act").returncode == 0
    line = re.search(r"^deploy +autonomous +granted by .*$", openkoi(env, "trust", "show").stdout, re.M)
    assert line is not None and "until" in line.group(0)

    revoked = openkoi(env, "trust", "revoke", "deploy", "--reason", "incident")
    assert revoked.returncode == 0 and revoked.stdout.startswith(f"deploy: back to ask — revoked by {user}")
    assert re.search(r"^deploy +ask +revoked by ", openkoi(env, "trust", "show").stdout, re.M)

    audit = openkoi(env, "trust", "audit", "deploy")
    assert audit.returncode == 0, audit.stderr
    lines = audit.stdout.splitlines()
    assert len(lines) == 2, lines
    assert f"grant  deploy → autonomous by {user} (reason: release week; until " in lines[0]
    assert f"revoke deploy → ask by {user} (reason: incident; via terminal)" in lines[1]
    assert openkoi(env, "trust", "audit", "--since", "1h").stdout.count("\n") == 3
    assert "nothing in the audit about files" in openkoi(env, "trust", "audit", "files").stdout

    for args, message in [
        (("grant", "databse", "act"), "unknown trust domain 'databse'. Did you mean 'database'?"),
        (("grant", "database", "yolo"), "unknown trust level 'yolo': use one of ask, suggest, act, autonomous"),
        (("grant", "database", "act", "--for", "soon"), "cannot read the duration 'soon'"),
        (("revoke", "deplyo"), "Did you mean 'deploy'?"),
        (("audit", "--since", "someday"), "cannot read --since 'someday'"),
    ]:
        done = openkoi(env, "trust", *args)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
    assert openkoi(env, "trust", "grnat").returncode == 2


def test_a_bad_gate_section_names_the_file_and_the_key(env: dict[str, str], tmp_path: Path) -> None:
    home = Path(env["OPENKOI_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    config = home / "config.toml"
    config.write_text("[gate]\naudit_retention_days = 0\n", encoding="utf-8")
    done = openkoi(env, "trust", "show")
    assert done.returncode == 2
    assert f"{config}: key 'gate.audit_retention_days'" in done.stderr
    config.write_text('[gate.floor]\ndisabled = ["no.such-rule"]\n', encoding="utf-8")
    think = openkoi(env, "summarise the README", cwd=tmp_path)
    assert think.returncode == 2 and "[gate.floor] disabled names rules that do not exist: no.such-rule" in think.stderr


def test_mind_parliament_shows_the_gates_decision_and_the_evidence(
    env: dict[str, str], server: FakeModelServer, tmp_path: Path
) -> None:
    assert openkoi(env, ISSUE_TASK, cwd=tmp_path).returncode == 3
    shown = openkoi(env, "mind", "parliament")
    assert shown.returncode == 0, shown.stderr
    assert "gate:" in shown.stdout and "blocked (guardian_invalid) · trust ask" in shown.stdout
    assert "guardian's ballot did not count: it assessed FULL reversibility and LOW blast radius" in shown.stdout
    assert "floor: database.destroy (database): " in shown.stdout and '"drop the production database"' in shown.stdout


def test_the_audit_pruning_job_runs_from_the_terminal(env: dict[str, str]) -> None:
    assert openkoi(env, "trust", "grant", "code", "act").returncode == 0
    ran = openkoi(env, "schedule", "run", "audit_pruning")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "✓ audit_pruning: pruned 0 audit rows older than 90 days\n"
