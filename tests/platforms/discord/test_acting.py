"""Acting from Discord, end to end: `openkoi serve` with the team's `restart-worker` runbook, the real discord.py
against FakeDiscord, and the fake model proposing the call.

A write at the default trust waits for a person: its approval card (Allow once / Allow always / Deny) appears
in the task's thread; only an approver other than the requester may allow it (refused privately, as an
ephemeral response), the requester or an approver may deny it, and "Allow always" lets the next call of the
runbook in its domain run without a card.
"""

from __future__ import annotations

import copy
import re
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from bots.discord.custom_id import ACTION_TEMPLATE
from bots.service import Service
from core.config import load_settings
from core.models import TaskStatus
from core.store.actions import ActionApproval
from tests.chat_service import running_service, wait_until
from tests.fakes.model_server import FakeModelServer
from tests.fakes.scripts import tool_results
from tests.platforms import runbook_acting
from tests.platforms.discord.fake_api import FLAG_EPHEMERAL, FakeDiscord
from tests.platforms.discord.test_adapter import (
    ALICE,
    CAROL,
    JSON,
    OWNER,
    buttons_of,
    callback_of,
    discord_service,
    fake,
    press,
    task_of,
    think,
    thread_says,
)
from tests.platforms.runbook_acting import (
    OUTPUT,
    REASON,
    RUNBOOK,
    Asked,
    pending_approval,
    restart,
    restarts,
)
from tests.support import wait_status

__all__ = ["fake"]  # the fixture, imported for its name
pytestmark = pytest.mark.usefixtures("discord_globals")

OWNER_LABEL = f"Owner (discord:{OWNER})"


async def thread_of(svc: Service, task_id: str) -> str:
    conversation = await svc.store.conversations.get(task_id)
    assert conversation is not None and conversation.thread_id is not None
    return conversation.thread_id


async def slot_message(svc: Service, fake: FakeDiscord, task_id: str, slot: str) -> JSON:
    """The message the publisher posted for ``slot`` of the task, as it is now (edits included)."""
    ids: list[str] = []

    async def posted() -> bool:
        post = await svc.store.conversations.posted(task_id, slot)
        ids[:] = [post.message_id] if post is not None else []
        return bool(ids)

    await wait_until(posted)
    message = fake.message(ids[0])
    assert message is not None
    return message


async def call_message(svc: Service, fake: FakeDiscord, task_id: str) -> JSON:
    """The message of the task's one call (its ``call:<id>`` slot), as it is now."""
    slots: list[str] = []

    async def posted() -> bool:
        slots[:] = [p.slot for p in await svc.store.conversations.posts(task_id) if p.slot.startswith("call:")]
        return bool(slots)

    await wait_until(posted)
    (slot,) = slots
    return await slot_message(svc, fake, task_id, slot)


async def approval_card(svc: Service, fake: FakeDiscord, task_id: str) -> tuple[ActionApproval, JSON]:
    """The task's pending approval and its card as first posted (the fake edits its own copy)."""
    approval = await pending_approval(svc, task_id)
    card = await slot_message(svc, fake, task_id, f"action:{approval.id}")
    return approval, copy.deepcopy(card)


def card_asked(fake: FakeDiscord, model_env: FakeModelServer) -> AbstractAsyncContextManager[Asked[JSON]]:
    """Serve with OWNER as the approver, have Alice ask for a restart, and wait for the approval card."""

    async def ask(svc: Service) -> str:
        return await task_of(svc, await think(fake, "restart the api worker"))

    service = running_service(load_settings(), discord_service(fake, approvers=[OWNER]))
    return runbook_acting.card_asked(model_env, service, ask, lambda svc, task_id: approval_card(svc, fake, task_id))


async def decide(fake: FakeDiscord, asked: Asked[JSON], choice: str, who: str, says: str) -> JSON:
    """Press ``choice`` on the card as ``who``; the press is acknowledged, the task finishes and the card
    becomes the decision ``says`` with its buttons gone. Returns the decided card."""
    pressed = await press(fake, asked.card, choice, who)
    assert callback_of(fake, pressed).type == 6, "acknowledged; the card shows the decision"
    await wait_status(asked.svc, asked.task_id, TaskStatus.DONE)
    decided = await thread_says(fake, await thread_of(asked.svc, asked.task_id), says)
    assert decided["id"] == asked.card["id"] and decided["components"] == []
    return decided


async def test_an_approver_allows_once_and_the_requester_may_not(
    fake: FakeDiscord, model_env: FakeModelServer, marker: Path
) -> None:
    async with card_asked(fake, model_env) as asked:
        svc, task_id, approval, card = asked.svc, asked.task_id, asked.approval, asked.card
        thread_id = await thread_of(svc, task_id)
        assert card["channel_id"] == thread_id, "the card is in the task's thread"
        text = card["content"]
        assert f"**Action needs a person**: `{RUNBOOK}`" in text and '• arguments: `{"name": "api"}`' in text, text
        assert "• class: write · domain deploy" in text and "a person decides: a write at trust ask" in text, text
        assert f"• the agent says: {REASON}" in text, text
        buttons = buttons_of(card)
        assert [(b["label"], b["style"]) for b in buttons] == [("Allow once", 4), ("Allow always", 4), ("Deny", 2)]
        assert [b["custom_id"] for b in buttons] == [
            f"openkoi:{choice}:{approval.id}" for choice in ("act_once", "act_always", "act_deny")
        ]
        assert all(re.fullmatch(ACTION_TEMPLATE, b["custom_id"]) for b in buttons)
        assert (await svc.store.tasks.get(task_id)).status is TaskStatus.RUNNING

        # Four eyes: the requester may not allow her own task's action; a member who is no approver may not
        # either. Both are told privately (an ephemeral response), and nothing runs.
        for who, why in ((ALICE, "Four eyes"), (CAROL, "only the approvers")):
            refused = await press(fake, card, "act_once", who)
            answer = callback_of(fake, refused)
            assert answer.type == 4 and answer.data["flags"] & FLAG_EPHEMERAL, answer
            assert why in answer.data["content"], answer.data["content"]
        assert restarts(marker) == [], "nothing ran"
        assert (await svc.store.actions.get(approval.id)).pending
        assert len(buttons_of(fake.message(card["id"]) or {})) == 3, "a refusal leaves the buttons"

        await decide(fake, asked, "act_once", OWNER, f"**Allowed once** by {OWNER_LABEL}")
        assert restarts(marker) == ["restarted api"], "the runbook ran once"
        call = await call_message(svc, fake, task_id)
        await wait_until(lambda: "✅ ran in" in call["content"])
        assert OUTPUT in call["content"] and f"`{RUNBOOK}`" in call["content"], call["content"]
        await thread_says(fake, thread_id, "**Done**")
        [result] = tool_results(model_env)
        assert result == f"exit 0\n{OUTPUT}", result


async def test_a_denied_action_never_runs_and_the_model_is_told(
    fake: FakeDiscord, model_env: FakeModelServer, marker: Path
) -> None:
    async with card_asked(fake, model_env) as asked:
        # Denying only adds caution: the requester may deny her own task's action.
        alice = f"Alice (discord:{ALICE})"
        decided = await decide(fake, asked, "act_deny", ALICE, f"**Denied** by {alice}")
        assert "it did not run" in decided["content"]
        [result] = tool_results(model_env)
        assert result == f"denied: {RUNBOOK} did not run: denied by {alice}", result
        assert restarts(marker) == [], "the runbook never ran"
        assert (await asked.svc.store.actions.get(asked.approval.id)).status == "denied"


async def test_allow_always_lets_the_next_call_in_the_domain_run_without_a_card(
    fake: FakeDiscord, model_env: FakeModelServer, marker: Path
) -> None:
    async with card_asked(fake, model_env) as asked:
        svc, thread_id = asked.svc, await thread_of(asked.svc, asked.task_id)
        decided = await decide(fake, asked, "act_always", OWNER, f"**Allowed always** by {OWNER_LABEL}")
        assert f"{RUNBOOK} in deploy runs without asking" in decided["content"], decided["content"]
        assert restarts(marker) == ["restarted api"]
        grant = await svc.store.actions.grant_in_force(RUNBOOK, "deploy")
        assert grant is not None and (grant.approval_id, grant.granted_by) == (asked.approval.id, OWNER_LABEL)
        await thread_says(fake, thread_id, "**Done**")

        # A second task: the standing grant lets the same runbook in the same domain run at once.
        model_env.script.queue("execute", restart("billing"))
        second = await task_of(svc, await think(fake, "restart the billing worker"))
        await wait_status(svc, second, TaskStatus.DONE)
        assert restarts(marker) == ["restarted api", "restarted billing"]
        [result] = tool_results(model_env)
        assert result == "exit 0\nrestarted worker@billing", result
        call = await call_message(svc, fake, second)
        await wait_until(lambda: "✅ ran in" in call["content"])
        assert "restarted worker@billing" in call["content"], call["content"]
        second_thread = await thread_of(svc, second)
        await thread_says(fake, second_thread, "**Done**")
        posted = [p.slot for p in await svc.store.conversations.posts(second)]
        assert not [slot for slot in posted if slot.startswith("action:")], posted
        shown = [b["custom_id"] for m in fake.channel_messages(second_thread) for b in buttons_of(m)]
        assert not [c for c in shown if c.startswith("openkoi:act_")], "no card in the second task's thread"
