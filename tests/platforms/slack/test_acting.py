"""Acting from Slack, end to end: `openkoi serve` with a real MCP server (``mcp-server-git`` on a temporary
repository) and the real slack-bolt / slack-sdk against FakeSlack; the fake model proposes the calls.

A read runs at once and its output is in the thread; a call the gate will not run alone posts an approval card
(Allow once / Allow always / Deny) that only an approver other than the requester may allow; an approval nobody
gives expires, the call never runs and the model is told.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from bots.service import Service
from bots.slack import blocks
from core.config import load_settings
from core.models import TaskStatus
from tests.chat_service import running_service, wait_until
from tests.fakes.model_server import FakeModelServer
from tests.fakes.scripts import tool_calls as calls
from tests.fakes.scripts import tool_results
from tests.platforms.slack.fake_api import USER_ID, FakeSlack, SlackMessage, block_action_body, signed_headers
from tests.platforms.slack.test_adapter import (
    APPROVER,
    SECRET,
    action_ids,
    deliver,
    has_text,
    parent_of,
    press,
    replies,
    slack,
    slack_service,
    slash,
    task_for,
    with_buttons,
)
from tests.support import git, make_git_repo, status_of, wait_status

GIT_SERVER = str(Path(sys.executable).parent / "mcp-server-git")
BYSTANDER = "UBYSTANDER"
ACT_BUTTONS = [blocks.ACT_ONCE_ACTION, blocks.ACT_ALWAYS_ACTION, blocks.ACT_DENY_ACTION]

__all__ = ["slack"]  # the fixture, imported for its name


@pytest.fixture
def repo(home: Path, tmp_path: Path) -> Path:
    """A git repository with three commits, served by mcp-server-git as the team's `git` MCP server."""
    made = make_git_repo(tmp_path / "repo")
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'[mcp_servers.git]\ncommand = {json.dumps(GIT_SERVER)}\nargs = ["--repository", {json.dumps(str(made))}]\n',
        encoding="utf-8",
    )
    return made


def stage_a_change(repo: Path) -> None:
    (repo / "file1.txt").write_text("changed\n")
    git(repo, "add", "file1.txt")


def staged(repo: Path) -> list[str]:
    return git(repo, "diff", "--cached", "--name-only").split()


def cards(fake: FakeSlack, parent: str) -> list[SlackMessage]:
    return [m for m in with_buttons(fake, parent) if action_ids(m) == ACT_BUTTONS]


async def ask_to_unstage(svc: Service, slack: FakeSlack, trigger_id: str) -> tuple[str, str]:
    """Ask by slash command to unstage everything and wait for the approval card of the model's git_reset;
    the task's id and its thread's parent."""
    assert (await slash(svc, slack, "unstage everything in the repository", trigger_id=trigger_id)).status == 200
    task_id = await task_for(svc, trigger_id)
    parent = await parent_of(svc, task_id)
    await wait_until(lambda: bool(cards(slack, parent)), within=30)
    return task_id, parent


def approval_of(card: SlackMessage) -> str:
    """The approval id the card's buttons carry."""
    return str(next(e["value"] for b in card.blocks or [] if b["type"] == "actions" for e in b["elements"]))


async def press_late(svc: Service, slack: FakeSlack, card: SlackMessage, approval_id: str, says: str) -> None:
    """An approver presses "Allow once" on a card already decided (a client still showing its buttons):
    the press is told privately that it changes nothing, and why."""
    body = block_action_body(
        blocks.ACT_ONCE_ACTION, approval_id, APPROVER, card.channel, card.ts, thread_ts=card.thread_ts
    )
    await deliver(svc, body, signed_headers(body, SECRET))
    await wait_until(lambda: bool(slack.ephemerals))
    assert says in (slack.ephemerals[-1].text or ""), slack.ephemerals[-1].text


async def test_a_read_runs_and_a_reset_waits_for_an_approver_other_than_the_requester(
    model_env: FakeModelServer, repo: Path, slack: FakeSlack
) -> None:
    settings = load_settings()
    async with running_service(settings, slack_service(slack, approvers=(APPROVER,))) as svc:
        # A read: the model calls git_log, it runs at once, and its output is in the thread.
        model_env.script.queue("execute", calls(("mcp__git__git_log", {"repo_path": str(repo), "max_count": 3})))
        assert (await slash(svc, slack, "show me the last 3 commits", trigger_id="trig-log")).status == 200
        task_id = await task_for(svc, "trig-log")
        parent = await parent_of(svc, task_id)
        await wait_status(svc, task_id, TaskStatus.DONE)
        await wait_until(lambda: has_text(slack, parent, "*Done*"))
        [log] = tool_results(model_env)
        assert "third: the fix" in log and "first: the readme" in log, log
        [call] = [m for m in replies(slack, parent) if "mcp__git__git_log" in (m.text or "")]
        await wait_until(lambda: "✅ ran in" in (call.text or ""))
        assert "third: the fix" in (call.text or ""), "the call's output is shown in its message"
        assert not cards(slack, parent), "a read asks nobody"

        # A reset of the repository: the rule floor blocks the task itself; once an approver overrides it,
        # the agent's git_reset is still an action that waits for a person on its own card.
        stage_a_change(repo)
        model_env.script.queue("execute", calls(("mcp__git__git_reset", {"repo_path": str(repo)})))
        assert (
            await slash(svc, slack, "reset the branch to the previous commit", trigger_id="trig-reset")
        ).status == 200
        task_id = await task_for(svc, "trig-reset")
        parent = await parent_of(svc, task_id)
        await wait_until(lambda: bool(with_buttons(slack, parent)))
        (override,) = with_buttons(slack, parent)
        assert "code.branch-delete" in (override.text or ""), override.text
        await press(svc, override, blocks.APPROVE_ACTION, user_id=APPROVER, user_name="boss")
        await wait_until(lambda: bool(cards(slack, parent)), within=30)
        (card,) = cards(slack, parent)
        text = card.text or ""
        assert "mcp__git__git_reset" in text and str(repo) in text, text
        assert "destructive" in text and "I need to run this to finish the task." in text, text
        lines = text.splitlines()
        assert lines[0].startswith("💥 *Action needs a person*") and lines[-1].startswith("An approver may"), text
        assert all(line.startswith("• ") for line in lines[1:-1]), text
        floor = [line for line in lines if line.startswith("• why asked: rule floor:")]
        assert floor and all(re.match(r'• why asked: rule floor: [\w.-]+ \(\w+\): .* — ".*"$', f) for f in floor), floor
        approval = (await svc.store.actions.pending(task_id))[0]
        buttons = [e for b in card.blocks or [] if b["type"] == "actions" for e in b["elements"]]
        assert [b["value"] for b in buttons] == [approval.id] * 3
        assert buttons[1]["confirm"]["title"]["text"] == "Allow always?", "a standing grant asks once more"

        # The requester may not allow her own task's action (four eyes); a bystander may not either.
        await press(svc, card, blocks.ACT_ONCE_ACTION)
        await press(svc, card, blocks.ACT_ONCE_ACTION, user_id=BYSTANDER, user_name="eve")
        await wait_until(lambda: len(slack.ephemerals) == 2)
        mine, eves = slack.ephemerals
        assert mine.ephemeral_to == USER_ID and "Four eyes" in (mine.text or "")
        assert eves.ephemeral_to == BYSTANDER and "only the approvers" in (eves.text or "")
        assert staged(repo) == ["file1.txt"], "nothing ran"
        assert (await svc.store.actions.get(approval.id)).pending

        await press(svc, card, blocks.ACT_ONCE_ACTION, user_id=APPROVER, user_name="boss")
        await wait_status(svc, task_id, TaskStatus.DONE)
        await wait_until(lambda: has_text(slack, parent, "*Done*"))
        assert staged(repo) == [], "git_reset ran: the index is reset"
        [result] = tool_results(model_env)
        assert not result.startswith(("denied", "error")), result
        assert action_ids(card) == [] and "*Allowed once* by boss (slack:UAPPROVER)" in (card.text or "")
        assert any(
            "mcp__git__git_reset" in (m.text or "") and "✅ ran in" in (m.text or "") for m in replies(slack, parent)
        )

        # The audit has all of it: proposed and asked, allowed (by whom), ran.
        entries = await svc.engine.gatekeeper.ledger.entries(None, None, 50)
        resets = [e for e in entries if e.action is not None and e.action.tool == "mcp__git__git_reset"]
        assert [e.outcome for e in resets] == ["ask", "allowed_once", "ok"], [e.outcome for e in resets]
        assert resets[1].decided_by == "boss (slack:UAPPROVER)" and resets[2].decided_by == "boss (slack:UAPPROVER)"
        assert all(e.action is not None and e.action.approval == approval.id for e in resets)


async def test_an_action_nobody_allows_expires_and_the_repository_is_unchanged(
    model_env: FakeModelServer, repo: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENKOI_TOOLS__APPROVAL_MINUTES", "0.01")  # 0.6 s
    settings = load_settings()
    stage_a_change(repo)
    head = git(repo, "rev-parse", "HEAD")
    model_env.script.queue("execute", calls(("mcp__git__git_reset", {"repo_path": str(repo)})))
    async with running_service(settings, slack_service(slack, approvers=(APPROVER,))) as svc:
        _, parent = await ask_to_unstage(svc, slack, "trig-x")
        (card,) = cards(slack, parent)
        approval_id = approval_of(card)
        await wait_until(lambda: "*Expired*" in (card.text or ""), within=10)
        assert action_ids(card) == []
        await wait_until(lambda: has_text(slack, parent, "*Done*") or has_text(slack, parent, "Below"), within=30)
        [result] = tool_results(model_env)
        assert result.startswith("denied: mcp__git__git_reset did not run: expired"), result
        assert staged(repo) == ["file1.txt"] and git(repo, "rev-parse", "HEAD") == head, "the repository is unchanged"

        # A press after the expiry (a client still showing the buttons) changes nothing and says why.
        await press_late(svc, slack, card, approval_id, "already expired")
        assert staged(repo) == ["file1.txt"]


async def test_a_card_whose_task_was_interrupted_by_a_restart_can_no_longer_allow_anything(
    model_env: FakeModelServer, repo: Path, slack: FakeSlack
) -> None:
    settings = load_settings()
    stage_a_change(repo)
    model_env.script.queue("execute", calls(("mcp__git__git_reset", {"repo_path": str(repo)})))
    service = slack_service(slack, approvers=(APPROVER,))
    service = service.model_copy(update={"serve": service.serve.model_copy(update={"drain_seconds": 0.2})})
    async with running_service(settings, service) as svc:
        task_id, parent = await ask_to_unstage(svc, slack, "trig-r")
    (card,) = cards(slack, parent)
    approval_id = approval_of(card)

    # The shutdown interrupted the task while it waited; the next process denies the approval in its name.
    async with running_service(settings, service) as svc:
        assert await status_of(svc, task_id) is TaskStatus.FAILED
        await wait_until(lambda: "*Denied*" in (card.text or ""), within=30)
        assert action_ids(card) == [] and "no longer running" in (card.text or "")
        await press_late(svc, slack, card, approval_id, "already denied")
    assert staged(repo) == ["file1.txt"], "nothing ran"
