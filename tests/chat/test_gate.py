"""The gate in chat: the issue's destructive task waits for Override / Cancel with the floor's rule named in the
thread whatever the model says; `/think trust …` is for approvers only; a grant that raises trust waits for a
second approver's press (four eyes), once, until it expires; the service prunes the audit when it starts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bots.chat.ingress import settled
from bots.chat.platform import Actor, InboundCommand, Reply
from bots.chat.settings import Access
from bots.service import Service
from core.config import Settings
from core.gate.trust import TrustLevel
from core.models import TaskStatus
from core.store import Store
from core.store.gate_audit import AuditEntry
from tests.chat.test_core import _shown, attach, think
from tests.chat_service import running_service, service_settings
from tests.core.gate.test_gate_engine import COPIED_EXAMPLE, ISSUE_TASK
from tests.fakes.chat_platform import NAME as PLATFORM
from tests.fakes.chat_platform import Posted, RecordingPlatform
from tests.fakes.model_server import FakeModelServer, json_reply
from tests.fakes.model_server import Reply as ModelReply
from tests.support import wait_status

ALICE = Actor(PLATFORM, "UALICE", "alice")
BOB = Actor(PLATFORM, "UBOB", "bob")
CAROL = Actor(PLATFORM, "UCAROL", "carol")  # not an approver
APPROVERS = Access(approvers=["UALICE", "UBOB"])


@pytest.fixture
async def svc(settings: Settings) -> AsyncIterator[Service]:
    async with running_service(settings, service_settings()) as service:
        yield service


def trust(text: str, actor: Actor = ALICE, key: str = "t1") -> InboundCommand:
    return InboundCommand(PLATFORM, key, actor, "C1", f"trust {text}")


async def answer(svc: Service, command: InboundCommand) -> Reply:
    reply = await settled(await svc.ingress.handle(command))
    assert reply is not None
    return reply


@pytest.mark.parametrize(
    "reply",
    [pytest.param(None, id="approves-everything"), pytest.param(json_reply(COPIED_EXAMPLE), id="copies-the-example")],
)
async def test_the_issue_task_waits_for_override_or_cancel_with_the_rule_named_in_the_thread(
    svc: Service, fake_model: FakeModelServer, reply: ModelReply | None
) -> None:
    if reply is not None:
        fake_model.script.default("ParliamentReply", reply)
    platform = await attach(svc, APPROVERS)
    asked = await answer(svc, think(ISSUE_TASK))
    assert asked.task_id is not None
    await wait_status(svc, asked.task_id, TaskStatus.AWAITING_CONFIRMATION)
    await svc.publisher.flush(within=5)
    [block] = [p for p in platform.thread(platform.parents()[0].message_id) if p.current.buttons]
    assert [b.label for b in block.current.buttons] == ["Override", "Cancel"]
    text = block.current.text
    assert "The Guardian gave no usable judgement" in text
    assert "• floor: database.destroy (database): " in text and '"drop the production database"' in text
    assert "• floor: backups.destroy (backups): " in text and "• Guardian: APPROVE" in text
    assert "execute" not in fake_model.kinds()

    # ALICE asked: four eyes, so BOB (an approver) overrides.
    own = await svc.desk.press(ALICE, "approve", block.current.buttons[0].target_id)
    assert own.private and "Four eyes" in own.text
    pressed = await svc.desk.press(BOB, "approve", block.current.buttons[0].target_id)
    assert not pressed.private and "Override approved by bob" in pressed.text
    await _shown(svc, asked.task_id)
    entries = await svc.store.gate_audit.for_task(asked.task_id)
    assert [(e.outcome, e.decided_by) for e in entries] == [("blocked", None), ("overridden", BOB.label)]


async def test_trust_commands_are_for_approvers_only(svc: Service) -> None:
    await attach(svc, APPROVERS)
    for text in ("show", "grant database autonomous", "revoke database", "audit"):
        refused = await answer(svc, trust(text, CAROL, key=f"c-{text}"))
        assert refused.private and "/think trust is for approvers only" in refused.text, text
    assert await svc.store.trust.history() == []
    shown = await answer(svc, trust("show"))
    assert shown.private and "database        ask         (default)" in shown.text
    bad = await answer(svc, trust("grant databse act", key="t2"))
    assert bad.private and "Did you mean 'database'?" in bad.text


def pending_grant(platform: RecordingPlatform) -> Posted:
    [posted] = [p for p in platform.parents() if p.current.buttons]
    return posted


async def test_a_grant_in_chat_needs_a_second_approvers_press(svc: Service) -> None:
    platform = await attach(svc, APPROVERS)
    asked = await answer(svc, trust("grant database autonomous --for 7d --reason migration week"))
    assert asked.private and "Posted for a second approver" in asked.text
    level = (await svc.engine.gatekeeper.ledger.levels(["database"]))["database"].level
    assert level is TrustLevel.ASK, "nothing changes before a second approver confirms"
    card = pending_grant(platform)
    assert [b.label for b in card.current.buttons] == ["Confirm grant", "Refuse"]
    assert "database → autonomous for 7d" in card.current.text and "migration week" in card.current.text
    request_id = card.current.buttons[0].target_id

    own = await svc.desk.press(ALICE, "approve", request_id)
    assert own.private and "another approver must confirm your own grant" in own.text
    outsider = await svc.desk.press(CAROL, "approve", request_id)
    assert outsider.private and "approvers only" in outsider.text
    confirmed = await svc.desk.press(BOB, "approve", request_id)
    assert not confirmed.private and "Trust for database is now autonomous until" in confirmed.text
    assert "asked by alice (recording:UALICE), confirmed by bob" in confirmed.text
    again = await svc.desk.press(BOB, "approve", request_id)
    assert again.private and "already approved by bob" in again.text
    assert card.current.buttons == () and "Trust for database is now autonomous" in card.current.text

    found = (await svc.engine.gatekeeper.ledger.levels(["database"]))["database"]
    assert found.level is TrustLevel.AUTONOMOUS and found.grant is not None
    assert found.grant.approved_by == BOB.label and found.grant.source == f"{PLATFORM}:C1"
    assert found.grant.expires_at is not None
    audit = await svc.engine.gatekeeper.ledger.entries("database")
    assert [(e.outcome, e.decided_by) for e in audit] == [("requested", ALICE.label), ("granted", ALICE.label)]
    assert audit[1].note is not None and f"confirmed by {BOB.label}" in audit[1].note


async def test_a_grant_request_can_be_refused_or_expire_and_then_changes_nothing(svc: Service) -> None:
    platform = await attach(svc, APPROVERS)
    await answer(svc, trust("grant deploy act"))
    withdrawn = pending_grant(platform).current.buttons[1].target_id
    refused = await svc.desk.press(ALICE, "deny", withdrawn)  # the person who asked may withdraw it
    assert "Grant refused by alice" in refused.text
    assert await svc.desk.press(BOB, "approve", withdrawn) == Reply(
        f"This grant request was already refused by {ALICE.label}.", private=True
    )

    await answer(svc, trust("grant code autonomous", key="t2"))
    request_id = pending_grant(platform).current.buttons[0].target_id
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    await svc.store.db.execute("UPDATE trust_requests SET expires_at = ? WHERE id = ?", (past, request_id))
    assert await svc.desk.sweep() == 1
    late = await svc.desk.press(BOB, "approve", request_id)
    assert late.private and "already expired" in late.text
    levels = await svc.engine.gatekeeper.ledger.levels(["deploy", "code"])
    assert {d: f.level for d, f in levels.items()} == {"deploy": TrustLevel.ASK, "code": TrustLevel.ASK}
    outcomes = [(e.domains, e.outcome) for e in await svc.engine.gatekeeper.ledger.entries()]
    assert outcomes == [
        (("deploy",), "requested"),
        (("deploy",), "refused"),
        (("code",), "requested"),
        (("code",), "expired"),
    ]


async def test_caution_applies_at_once_and_self_approval_grants_directly(svc: Service) -> None:
    platform = await attach(svc, Access(approvers=["UALICE"], self_approval=True))
    granted = await answer(svc, trust("grant files autonomous"))
    assert not granted.private and "Trust for files is now autonomous (asked by alice)" in granted.text
    await attach(svc, APPROVERS)  # four eyes on again: lowering or revoking needs no second approver
    lowered = await answer(svc, trust("grant files suggest", key="t2"))
    assert not lowered.private and "Trust for files is now suggest" in lowered.text
    revoked = await answer(svc, trust("revoke files --reason incident", key="t3"))
    assert not revoked.private and "back to ask" in revoked.text
    assert not [p for p in platform.parents() if p.current.buttons], "nothing waited for a second approver"
    audit = await answer(svc, trust("audit files", key="t4"))
    assert audit.private and audit.text.count("files →") == 3


async def test_the_service_prunes_the_audit_when_it_starts(settings: Settings) -> None:
    async with Store(settings.db_path) as store:
        old = datetime.now(UTC) - timedelta(days=settings.gate.audit_retention_days + 1)
        await store.gate_audit.record(AuditEntry(kind="task", outcome="proceeded", task_id="0" * 16, at=old))
        await store.gate_audit.record(AuditEntry(kind="task", outcome="proceeded", task_id="1" * 16))
    async with running_service(settings, service_settings()) as svc:
        assert [e.task_id for e in await svc.store.gate_audit.entries()] == ["1" * 16]


async def test_a_long_audit_reply_keeps_the_latest_rows_within_the_limit(svc: Service) -> None:
    await attach(svc, APPROVERS)
    ledger = svc.engine.gatekeeper.ledger
    for n in range(20):
        await ledger.grant("code", TrustLevel.ASK, by="alice", source="terminal", reason=f"row {n:02d} " + "x" * 150)
    reply = await answer(svc, trust("audit"))
    assert reply.text.startswith("… earlier rows left out: openkoi trust audit shows them all\n")
    assert len(reply.text) <= 2600 and reply.text.rstrip().endswith("via terminal)") and "row 19" in reply.text
    assert "row 00" not in reply.text
