"""Acting from Telegram, end to end: `openkoi serve` with the team's `restart-worker` runbook, the real
python-telegram-bot against the fake Bot API, and the fake model proposing the call.

A write at the default trust waits for a person: its approval card (Allow once / Allow always / Deny) is a
reply in the task's thread; only an approver other than the requester may allow it (refused with an alert
only the presser sees), an approver may deny it, and "Allow always" lets the next call of the runbook in its
domain run without a card.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path

from bots.service import Service
from core.config import load_settings
from core.models import TaskStatus
from core.store.actions import ActionApproval
from tests.chat_service import wait_until
from tests.fakes.model_server import FakeModelServer
from tests.fakes.scripts import tool_results
from tests.platforms import runbook_acting
from tests.platforms.runbook_acting import (
    OUTPUT,
    REASON,
    RUNBOOK,
    Asked,
    pending_approval,
    restart,
    restarts,
)
from tests.platforms.telegram.fake_api import FakeTelegram, StoredMessage
from tests.platforms.telegram.test_adapter import (
    ALICE,
    BOB,
    GROUP,
    Sent,
    fake,
    finished,
    press,
    say,
    serving,
    task_for,
    tg_settings,
)

__all__ = ["fake"]  # the fixture, imported for its name

BOB_LABEL = f"Bob (telegram:{BOB})"
APPROVERS = {"approvers": [str(BOB)]}


async def slot_message(svc: Service, fake: FakeTelegram, task_id: str, prefix: str) -> StoredMessage:
    """The one message the publisher posted for a slot starting with ``prefix``, as it is now."""
    ids: list[int] = []

    async def posted() -> bool:
        ids[:] = [int(p.message_id) for p in await svc.store.conversations.posts(task_id) if p.slot.startswith(prefix)]
        return bool(ids)

    await wait_until(posted)
    (message_id,) = ids
    return fake.message(GROUP, message_id)


async def approval_card(svc: Service, fake: FakeTelegram, task_id: str) -> tuple[ActionApproval, Sent]:
    """The task's pending approval and its card as first posted (the fake's message changes with edits)."""
    approval = await pending_approval(svc, task_id)
    card = await slot_message(svc, fake, task_id, f"action:{approval.id}")
    return approval, Sent(card.message_id, card.reply_to, card.text, tuple(card.buttons))


async def thread_of(svc: Service, task_id: str) -> int:
    conversation = await svc.store.conversations.get(task_id)
    assert conversation is not None and conversation.thread_id is not None
    return int(conversation.thread_id)


def card_asked(fake: FakeTelegram, model_env: FakeModelServer) -> AbstractAsyncContextManager[Asked[Sent]]:
    """Serve with Bob as the approver, have Alice ask for a restart, and wait for the approval card."""

    async def ask(svc: Service) -> str:
        update_id, _ = say(fake, "/think restart the api worker")
        return await task_for(svc, update_id)

    service = serving(load_settings(), tg_settings(fake, access=APPROVERS))
    return runbook_acting.card_asked(model_env, service, ask, lambda svc, task_id: approval_card(svc, fake, task_id))


async def decide(fake: FakeTelegram, asked: Asked[Sent], button: str, answered: str) -> StoredMessage:
    """Bob presses ``button`` on the card: the answer (no alert) says ``answered``, the task finishes and the
    card loses its keyboard. Returns the decided card."""
    pressed = await press(fake, BOB, asked.card, button)
    assert not pressed.get("show_alert") and answered in pressed["text"], pressed
    await finished(asked.svc, asked.task_id, TaskStatus.DONE)
    decided = fake.message(GROUP, asked.card.message_id)
    assert decided.reply_markup is None, decided
    return decided


async def test_an_approver_allows_once_and_the_requester_may_not(
    fake: FakeTelegram, model_env: FakeModelServer, marker: Path
) -> None:
    async with card_asked(fake, model_env) as asked:
        svc, task_id, approval, card = asked.svc, asked.task_id, asked.approval, asked.card
        assert card.reply_to == await thread_of(svc, task_id), "the card is in the task's thread"
        text = card.text
        assert f"Action needs a person: {RUNBOOK}" in text and '• arguments: {"name": "api"}' in text, text
        assert "• class: write · domain deploy" in text and "a person decides: a write at trust ask" in text, text
        assert f"• the agent says: {REASON}" in text, text
        assert [(b["text"], b["callback_data"]) for b in card.buttons] == [
            ("Allow once", f"oka:o:{approval.id}"),
            ("Allow always", f"oka:a:{approval.id}"),
            ("Deny", f"oka:d:{approval.id}"),
        ]
        assert all(len(b["callback_data"].encode()) <= 64 for b in card.buttons)
        assert (await svc.store.tasks.get(task_id)).status is TaskStatus.RUNNING

        # Four eyes: the requester may not allow her own task's action; told in an alert only she sees.
        refused = await press(fake, ALICE, card, "Allow once")
        assert refused["show_alert"] is True and "Four eyes" in refused["text"], refused
        assert "[telegram.access]" in refused["text"]
        assert restarts(marker) == [], "nothing ran"
        assert (await svc.store.actions.get(approval.id)).pending
        assert len(fake.message(GROUP, card.message_id).buttons) == 3, "a refusal leaves the buttons"

        decided = await decide(fake, asked, "Allow once", f"Allowed once by Bob: {RUNBOOK} runs now")
        assert restarts(marker) == ["restarted api"], "the runbook ran once"
        assert f"Allowed once by {BOB_LABEL}" in decided.text, decided.text
        assert decided.buttons == []
        call = await slot_message(svc, fake, task_id, "call:")
        assert "✅ ran in" in call.text and OUTPUT in call.text and RUNBOOK in call.text, call.text
        assert call.reply_to == card.reply_to
        [result] = tool_results(model_env)
        assert result == f"exit 0\n{OUTPUT}", result


async def test_a_denied_action_never_runs_and_the_model_is_told(
    fake: FakeTelegram, model_env: FakeModelServer, marker: Path
) -> None:
    async with card_asked(fake, model_env) as asked:
        svc, approval, card = asked.svc, asked.approval, asked.card
        decided = await decide(fake, asked, "Deny", f"Denied by Bob: {RUNBOOK} will not run")
        assert f"Denied by {BOB_LABEL}" in decided.text and "it did not run" in decided.text, decided.text
        [result] = tool_results(model_env)
        assert result == f"denied: {RUNBOOK} did not run: denied by {BOB_LABEL}", result
        assert restarts(marker) == [], "the runbook never ran"
        assert (await svc.store.actions.get(approval.id)).status == "denied"

        # An old keyboard still on someone's screen: the press changes nothing and says why.
        late = await press(fake, BOB, card, "Allow once")
        assert late["show_alert"] is True and f"already denied by {BOB_LABEL}" in late["text"], late
        assert restarts(marker) == []


async def test_allow_always_lets_the_next_call_in_the_domain_run_without_a_card(
    fake: FakeTelegram, model_env: FakeModelServer, marker: Path
) -> None:
    async with card_asked(fake, model_env) as asked:
        svc, approval = asked.svc, asked.approval
        decided = await decide(fake, asked, "Allow always", "from now on for restart-worker in deploy")
        assert f"Allowed always by {BOB_LABEL}" in decided.text, decided.text
        assert f"{RUNBOOK} in deploy runs without asking" in decided.text
        assert restarts(marker) == ["restarted api"]
        grant = await svc.store.actions.grant_in_force(RUNBOOK, "deploy")
        assert grant is not None and (grant.approval_id, grant.granted_by) == (approval.id, BOB_LABEL)

        # A second task: the standing grant lets the same runbook in the same domain run at once.
        model_env.script.queue("execute", restart("billing"))
        update_id, _ = say(fake, "/think restart the billing worker")
        second = await task_for(svc, update_id)
        await finished(svc, second, TaskStatus.DONE)
        assert restarts(marker) == ["restarted api", "restarted billing"]
        [result] = tool_results(model_env)
        assert result == "exit 0\nrestarted worker@billing", result
        call = await slot_message(svc, fake, second, "call:")
        assert "✅ ran in" in call.text and "restarted worker@billing" in call.text, call.text
        posted = [p.slot for p in await svc.store.conversations.posts(second)]
        assert not [slot for slot in posted if slot.startswith("action:")], posted
        thread = fake.replies_to(GROUP, await thread_of(svc, second))
        shown = [b["callback_data"] for m in thread for b in m.buttons]
        assert not [data for data in shown if data.startswith("oka:")], "no card in the second task's thread"
