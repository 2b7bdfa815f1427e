"""`/think trust show|grant|revoke|audit` in chat, and the presses that confirm a grant (four eyes).

Only approvers (the platform's ``access.approvers`` / ``approver_roles``) may use them; everyone else is
refused privately. A grant that raises a domain's trust needs a second approver when four eyes are on
(``self_approval = false``, the default): it is posted in the channel with Confirm / Refuse buttons that
another approver presses (through the desk's one ``press``), once, before it expires like an override
request (``[parliament] confirmation_ttl_minutes``). The person who asked may withdraw it (Refuse) but not
confirm it. A revoke, or a grant that does not raise the level, only adds caution and applies at once.
Every change goes through ``core.gate.ledger``, so it is audited like the terminal's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from bots.chat import commands
from bots.chat.access import AccessPolicy
from bots.chat.pacing import Pacer
from bots.chat.platform import Actor, Button, ChatPlatform, InboundCommand, Outgoing, Reply
from bots.chat.presses import NO_LONGER_VALID
from core.engine import Engine
from core.errors import ConfigError, OpenKoiError
from core.gate.describe import describe_entry, describe_level
from core.gate.ledger import TrustLedger
from core.gate.trust import LADDER, Grant, TrustLevel, describe_duration, parse_since
from core.models import utcnow
from core.store.trust import RequestStatus, TrustRequest

log = logging.getLogger(__name__)

AUDIT_ROWS = 20  # a chat reply shows the latest rows; the terminal's `openkoi trust audit -n` shows more
AUDIT_CHARS = 2500  # and stays well within every platform's message limit


@dataclass
class TrustDesk:
    engine: Engine
    policies: Mapping[str, AccessPolicy]
    # The adapters by name (the service's live dict: adapters are added after the desk is built).
    platforms: Mapping[str, ChatPlatform]
    pacer: Pacer = field(default_factory=Pacer)

    @property
    def ledger(self) -> TrustLedger:
        return self.engine.gatekeeper.ledger

    @property
    def ttl(self) -> timedelta:
        return timedelta(minutes=self.engine.settings.parliament.confirmation_ttl_minutes)

    async def command(self, command: InboundCommand, parsed: commands.TrustCommand) -> Reply:
        """Answer a trust command. Refusals and reads are private; a change is announced in the channel."""
        policy = self.policies.get(command.platform)
        if policy is None or not policy.is_approver(command.actor):
            log.info("refused %s a trust command", command.actor.label)
            return Reply(refusal(command.platform), private=True)
        try:
            return await self._answer(command, parsed, policy)
        except (OpenKoiError, ConfigError) as exc:
            return Reply(str(exc), private=True)

    async def _answer(self, command: InboundCommand, parsed: commands.TrustCommand, policy: AccessPolicy) -> Reply:
        actor, source = command.actor, f"{command.platform}:{command.channel_id}"
        now = utcnow()
        match parsed:
            case commands.TrustShow():
                lines = [describe_level(found, now) for found in await self.ledger.show(now)]
                return Reply("Trust levels:\n" + "\n".join(lines), private=True)
            case commands.TrustAudit(domain=domain, since=since):
                start = parse_since(since, now) if since else None
                entries = await self.ledger.entries(domain, start, AUDIT_ROWS)
                if not entries:
                    return Reply("Nothing in the audit" + (f" about {domain}." if domain else "."), private=True)
                return Reply(_latest_within([describe_entry(entry) for entry in entries]), private=True)
            case commands.TrustRevoke(domain=domain, reason=reason):
                grant = await self.ledger.revoke(domain, by=actor.label, source=source, reason=reason)
                return Reply(f"🔒 Trust for {grant.domain} is back to ask (revoked by {actor.name}).")
            case commands.TrustGrant(domain=domain, level=level, duration=duration, reason=reason):
                name = self.ledger.domains.check(domain)
                current = (await self.ledger.levels([name], now))[name].level
                raises = LADDER.index(level) > LADDER.index(current)
                if raises and not policy.rules.self_approval:
                    return await self._ask_second(command, name, level, duration, reason)
                grant = await self.ledger.grant(
                    name, level, by=actor.label, source=source, duration=duration, reason=reason
                )
                return Reply(f"🔓 {granted_text(grant, actor.name, None)}")
        raise AssertionError(parsed)  # pragma: no cover

    async def _ask_second(
        self, command: InboundCommand, domain: str, level: TrustLevel, duration: timedelta | None, reason: str | None
    ) -> Reply:
        """Post the grant for another approver to confirm; nothing changes until one does."""
        platform = self.platforms.get(command.platform)
        if platform is None:
            return Reply(
                "This platform cannot post the grant for a second approver now; try again later.", private=True
            )
        actor = command.actor
        request = await self.engine.store.trust.request(
            domain=domain,
            level=level,
            reason=reason,
            duration=duration,
            requested_by=actor.label,
            requester_id=actor.user_id,
            platform=command.platform,
            channel_id=command.channel_id,
            ttl=self.ttl,
        )
        m = platform.markup
        what = f"{domain} → {level.value}" + (f" for {describe_duration(duration)}" if duration else "")
        text = (
            f"🔐 {m.bold('Trust grant')} asked by {m.escape(actor.name)}: {m.escape(what)}"
            + (f" — {m.escape(reason)}" if reason else "")
            + f"\nFour eyes: another approver must {m.bold('Confirm')} it (or {m.bold('Refuse')})."
            f" This request expires in {self.ttl.total_seconds() / 60:g} minutes."
        )
        buttons = (Button("Confirm grant", "approve", request.id), Button("Refuse", "deny", request.id))
        await self.pacer.turn(platform.name, command.channel_id, platform.pace(command.channel_id))
        message_id = await platform.post_to_channel(command.channel_id, Outgoing(text, buttons))
        await self.engine.store.trust.set_message(request.id, message_id)
        await self.ledger.audit_request(domain, level, "requested", actor.label, reason)
        return Reply(
            f"Posted for a second approver: {what}. Nothing changes until another approver confirms it.", private=True
        )

    # Presses -------------------------------------------------------------------------------------------

    async def owns(self, target_id: str) -> bool:
        """True when ``target_id`` is a grant waiting (or once waiting) for a second approver."""
        return await self.engine.store.trust.get_request(target_id) is not None

    async def press(self, actor: Actor, request_id: str, confirm: bool) -> Reply:
        """Confirm or refuse a pending grant. Every refusal is private and changes nothing."""
        store = self.engine.store
        request = await store.trust.get_request(request_id)
        if request is None or actor.platform != request.platform:
            return Reply(NO_LONGER_VALID, private=True)
        if request.status != "pending":
            by = f" by {request.decided_by}" if request.decided_by else ""
            return Reply(f"This grant request was already {request.status}{by}.", private=True)
        if request.expires_at <= utcnow():
            await self._expire(request)
            return Reply("This grant request has expired; nothing changed.", private=True)
        policy = self.policies.get(request.platform)
        approver = policy is not None and policy.is_approver(actor)
        own = actor.user_id == request.requester_id
        if confirm and (not approver or own):
            log.info("refused %s confirming trust request %s", actor.label, request.id)
            why = (
                "Four eyes: another approver must confirm your own grant."
                if own and approver
                else refusal(request.platform)
            )
            return Reply(why, private=True)
        if not confirm and not (approver or own):
            return Reply(refusal(request.platform), private=True)
        status: RequestStatus = "approved" if confirm else "refused"
        if not await store.trust.decide_request(request.id, status, actor.label):
            return Reply("Someone else decided this grant request first.", private=True)
        if not confirm:
            await self.ledger.audit_request(request.domain, request.level, "refused", actor.label)
            await self._show(request, f"🚫 Refused by {actor.name}; nothing changed.")
            return Reply(f"Grant refused by {actor.name}.")
        grant = await self.ledger.grant(
            request.domain,
            request.level,
            by=request.requested_by,
            source=f"{request.platform}:{request.channel_id}",
            duration=request.duration,
            reason=request.reason,
            approved_by=actor.label,
        )
        await store.trust.set_grant(request.id, grant.id)
        text = granted_text(grant, request.requested_by, actor.name)
        await self._show(request, f"🔓 {text}")
        return Reply(f"🔓 {text}")

    async def sweep(self) -> int:
        """Expire every pending grant request past its deadline."""
        expired = 0
        for request in await self.engine.store.trust.expired_requests():
            expired += await self._expire(request)
        return expired

    async def _expire(self, request: TrustRequest) -> bool:
        if not await self.engine.store.trust.decide_request(request.id, "expired", None):
            return False
        await self.ledger.audit_request(request.domain, request.level, "expired", None)
        await self._show(request, "⌛ Expired without a second approver; nothing changed.")
        return True

    async def _show(self, request: TrustRequest, outcome: str) -> None:
        """Edit the grant's message to say how it ended, without its buttons."""
        platform = self.platforms.get(request.platform)
        if platform is None or request.message_id is None:
            return
        m = platform.markup
        text = f"🔐 {m.bold('Trust grant')} {m.escape(request.domain)} → {request.level.value}\n{m.escape(outcome)}"
        try:
            await self.pacer.turn(platform.name, request.channel_id, platform.pace(request.channel_id))
            await platform.edit_in_channel(request.channel_id, request.message_id, Outgoing(text))
        except Exception:  # the decision stands; only its display failed
            log.exception("editing the trust grant message %s failed", request.message_id)


def _latest_within(entries: list[list[str]], limit: int = AUDIT_CHARS) -> str:
    """The latest audit entries (oldest first) whose lines fit in ``limit`` characters, saying when some were
    left out."""
    kept: list[str] = []
    size = 0
    for lines in reversed(entries):
        text = "\n".join(lines)
        if kept and size + len(text) + 1 > limit:
            kept.insert(0, "… earlier rows left out: openkoi trust audit shows them all")
            break
        kept.insert(0, text)
        size += len(text) + 1
    return "\n".join(kept)


def granted_text(grant: Grant, asked_by: str, confirmed_by: str | None) -> str:
    until = f" until {grant.expires_at.strftime('%Y-%m-%d %H:%M UTC')}" if grant.expires_at else ""
    confirmed = f", confirmed by {confirmed_by}" if confirmed_by else ""
    return f"Trust for {grant.domain} is now {grant.level.value}{until} (asked by {asked_by}{confirmed})."


def refusal(platform: str) -> str:
    return f"Sorry, /think trust is for approvers only (approvers or approver_roles in [{platform}.access])."
