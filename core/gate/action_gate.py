"""Every action through the gate: the one service the engine asks before a tool call runs, and tells how it
ended. It ties the class (``action_class``), the decision (``action_decision``), the approvals, standing
grants and tool calls (``core.store.actions``, ``core.store.tool_calls``) and the audit ledger together.

    review(task, action, tool)   classify, decide, audit; ASK → a pending approval (its id in the review);
                                 DENY → a refused call in the atlas
    decide(approval, fingerprint, once|always|deny, by)
                                 a person's decision, once, for that exact call, never after expiry;
                                 "always" adds a standing grant for this tool in this domain
    expire_due()                 pending approvals past their deadline become ``expired`` (told to the model)
    record_call(review, outcome, …)
                                 a call that ran (ok / error / timeout) and how long it took

It knows nothing of chat or terminals: the approval's ``requested_by`` is stored so the desk can keep the
requester from approving (four eyes). What is stored or audited of the arguments is their fingerprint (a
hash) and a redacted, shortened preview; never the call's output; the agent's reason is kept (redacted) on
the approval, for the approver, never in the audit.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from core.acting.action import ActionTool, ProposedAction
from core.errors import ConfigError, GateUnavailable, OpenKoiError
from core.gate.action_class import ActionClass, classify
from core.gate.action_decision import ActionDecision, ActionRuling, ToolRules, decide_action
from core.gate.gatekeeper import Gatekeeper
from core.gate.ledger import TrustLedger
from core.gate.trust import most_restrictive
from core.models import utcnow
from core.secrets import REDACTED, SECRET_VARIABLE, SECRETS
from core.store import Store
from core.store.actions import ActionApproval, DecidedStatus, StandingGrant
from core.store.gate_audit import AuditAction, AuditEntry, AuditRule
from core.store.tool_calls import RAN, CallOutcome, ToolCall
from core.text import clip
from core.text import one_line as text_line

if TYPE_CHECKING:
    from core.config import ToolSettings

PREVIEW_CHARS = 300
ERROR_CHARS = 200
Choice = Literal["once", "always", "deny"]
_STATUS: dict[Choice, DecidedStatus] = {"once": "allowed_once", "always": "allowed_always", "deny": "denied"}
Refusal = Literal["unknown", "mismatch", "decided", "expired"]


class ApprovalRefused(OpenKoiError):
    """A decision on an action that cannot be taken; ``why`` says which: ``unknown`` (no such approval),
    ``mismatch`` (it is for another call), ``decided`` (already), ``expired``."""

    def __init__(self, message: str, why: Refusal) -> None:
        super().__init__(message)
        self.why = why


@dataclass(frozen=True)
class ActionReview:
    """The gate's review of one proposed call: its class, the decision and the lines a person reads, the
    call's fingerprint and redacted preview, and for ASK the pending approval."""

    task_id: str | None
    action: ProposedAction
    klass: ActionClass
    ruling: ActionRuling
    fingerprint: str
    preview: str
    approval: ActionApproval | None = None

    @property
    def decision(self) -> ActionDecision:
        return self.ruling.decision

    @property
    def reasons(self) -> tuple[str, ...]:
        return self.ruling.reasons

    @property
    def approval_id(self) -> str | None:
        return self.approval.id if self.approval is not None else None


def _masked(value: Any, key: str = "") -> Any:
    """``value`` with the values of secret-named keys (``api_key``, ``password``, ``authToken``) hidden."""
    words = "".join(f"_{c}" if c.isupper() else c for c in key).replace("-", "_").lstrip("_")
    if key and SECRET_VARIABLE.search(words) and value not in (None, "", True, False, {}, []):
        return REDACTED  # the whole value, even a list or a table under "credentials"
    if isinstance(value, Mapping):
        return {str(k): _masked(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item, key) for item in value]
    return value


def arguments_preview(arguments: Mapping[str, Any]) -> str:
    """What a person (and the audit) may see of a call's arguments: JSON, every registered secret and every
    secret-named key's value redacted (before quoting, so escaping cannot hide a value), at most 300 chars."""
    scrubbed = SECRETS.scrub(_masked(arguments))
    text = json.dumps(scrubbed, ensure_ascii=False, default=str, sort_keys=True)
    return clip(SECRETS.redact(text), PREVIEW_CHARS)


def one_line(text: str, limit: int) -> str:
    """``text`` on one line, redacted, at most ``limit`` characters."""
    return text_line(SECRETS.redact(text), limit)


@dataclass
class ActionGate:
    """The gate for actions; see the module. Build it over the engine's ``Gatekeeper`` and ``[tools]``."""

    gatekeeper: Gatekeeper
    tools: ToolSettings

    @property
    def store(self) -> Store:
        return self.gatekeeper.store

    def _ledger(self) -> TrustLedger:
        try:
            return self.gatekeeper.ledger
        except ConfigError as exc:
            raise GateUnavailable(str(exc)) from exc

    async def classify(self, action: ProposedAction, tool: ActionTool | None) -> ActionClass:
        """The action's class (``core.gate.action_class``), screened off the event loop. ``GateUnavailable``
        when the gate's configuration is wrong: an action that cannot be screened does not run."""

        def screened() -> ActionClass:
            # One hop off the loop: the floor loads there on first use, then screens.
            return classify(action, tool, self.gatekeeper.floor, self.tools.effects)

        try:
            return await asyncio.to_thread(screened)
        except ConfigError as exc:
            raise GateUnavailable(str(exc)) from exc

    async def review(
        self,
        task_id: str | None,
        action: ProposedAction,
        tool: ActionTool | None,
        *,
        requested_by: str | None = None,
        now: datetime | None = None,
    ) -> ActionReview:
        """Classify and decide ``action`` and audit it. ASK creates the pending approval (``review.approval``,
        expiring after ``[tools] approval_minutes``); DENY is recorded as a refused call."""
        ledger = self._ledger()
        klass = await self.classify(action, tool)
        levels = await ledger.levels(klass.domains, now)
        level = most_restrictive(found.level for found in levels.values())
        grant = await self.store.actions.grant_in_force(action.tool, klass.domain)
        rules = ToolRules.of(self.tools.allow, self.tools.ask, self.tools.deny)
        ruling = decide_action(action.tool, klass, rules, level, grant)
        fingerprint, preview = action.fingerprint, arguments_preview(action.arguments)
        approval = None
        if ruling.decision is ActionDecision.ASK:
            approval = await self.store.actions.request(
                task_id=task_id,
                tool=action.tool,
                fingerprint=fingerprint,
                preview=preview,
                reason=one_line(action.reason, PREVIEW_CHARS),
                effect=klass.effect,
                source=klass.source,
                rules=klass.rules,
                domain=klass.domain,
                level=level,
                requested_by=requested_by,
                ttl=timedelta(minutes=self.tools.approval_minutes),
                now=now,
            )
        review = ActionReview(task_id, action, klass, ruling, fingerprint, preview, approval)
        await ledger.record_action(
            AuditEntry(
                kind="action",
                outcome=ruling.outcome,
                task_id=task_id,
                domains=klass.domains,
                rules=tuple(AuditRule(m.rule, m.domain, m.description) for m in klass.floor.matches),
                level=level.value,
                action=AuditAction(
                    tool=action.tool,
                    effect=klass.effect.value,
                    source=klass.source,
                    fingerprint=fingerprint,
                    preview=preview,
                    rule=ruling.pattern or (f"effects:{klass.rule}" if klass.rule else None),
                    grant=ruling.grant.id if ruling.grant is not None else None,
                    approval=approval.id if approval is not None else None,
                ),
                at=now or utcnow(),
            )
        )
        if ruling.decision is ActionDecision.DENY:
            await self.store.tool_calls.record(
                task_id=task_id,
                tool=action.tool,
                effect=klass.effect,
                decision="deny",
                outcome="denied",
                fingerprint=fingerprint,
                preview=preview,
                started_at=now,
                rule=ruling.pattern or "trust:suggest",
            )
        return review

    async def decide(
        self, approval_id: str, fingerprint: str, choice: Choice, by: str, now: datetime | None = None
    ) -> ActionApproval:
        """A person's decision on a pending approval: ``once`` (this call, this time), ``always`` (and a standing
        grant for this tool in this domain) or ``deny``. Taken once, only for the call it was asked for
        (``fingerprint``), never after it expired; ``ApprovalRefused`` says why not otherwise."""
        decided = await self.store.actions.decide(approval_id, fingerprint, _STATUS[choice], by, now)
        if decided is None:
            raise await self._refusal(approval_id, fingerprint, now)
        await self._audit_approval(decided, decided.status, by, now)
        if decided.status == "denied":
            await self._refused_call(decided, "denied", now)
        return decided

    async def _refusal(self, approval_id: str, fingerprint: str, now: datetime | None) -> ApprovalRefused:
        found = await self.store.actions.find(approval_id)
        if found is None:
            return ApprovalRefused(f"no action approval with id '{approval_id}'", "unknown")
        if found.fingerprint != fingerprint:
            return ApprovalRefused(
                f"approval {approval_id[:8]} is for another call of {found.tool} ({found.preview}): "
                "an approval covers only the exact tool and arguments it was asked for",
                "mismatch",
            )
        if found.pending and found.has_expired(now):
            await self.expire_due(now)
            found = await self.store.actions.get(approval_id)
        if found.status == "expired":
            return ApprovalRefused(f"approval {approval_id[:8]} expired: it can no longer be allowed", "expired")
        by = f" by {found.decided_by}" if found.decided_by else ""
        return ApprovalRefused(f"approval {approval_id[:8]} was already decided: {found.status}{by}", "decided")

    async def expire_due(self, now: datetime | None = None) -> list[ActionApproval]:
        """Expire every pending approval past its deadline; those this call expired (each audited, and in the
        atlas as an ``expired`` call), for the engine to tell the model."""
        expired = await self.store.actions.expire_due(now)
        for approval in expired:
            await self._audit_approval(approval, "expired", None, now)
            await self._refused_call(approval, "expired", now)
        return expired

    async def pending(self, task_id: str | None = None) -> list[ActionApproval]:
        """The approvals still waiting for a person (they survive a restart), oldest first."""
        return await self.store.actions.pending(task_id)

    async def revoke_always(self, tool: str, domain: str, by: str, reason: str | None = None) -> StandingGrant:
        """End "allow always" for ``tool`` in ``domain`` (a row of its own), audited."""
        row = await self.store.actions.add_grant(
            tool=tool, domain=domain, kind="revoke", granted_by=by, reason=one_line(reason or "", 300) or None
        )
        entry = AuditEntry(kind="action", outcome="always_revoked", domains=(domain,), decided_by=by, note=tool)
        await self._ledger().record_action(entry)
        return row

    async def record_call(
        self,
        review: ActionReview,
        outcome: CallOutcome,
        *,
        started_at: datetime,
        duration_ms: float,
        error: str | None = None,
        approval: ActionApproval | None = None,
    ) -> ToolCall:
        """Record a call that ran: ``ok``, ``error`` (with its reason, one redacted line) or ``timeout``, and how
        long it took; audited. ``approval``: the decided approval that let an ASK run. Refusals are recorded
        by ``review``, ``decide`` and ``expire_due``; recording a call that was never allowed is a ValueError."""
        if outcome not in RAN:
            raise ValueError(f"record_call records a call that ran (ok, error, timeout), not {outcome!r}")
        if review.decision is ActionDecision.DENY:
            raise ValueError("a denied action never runs")
        allowed = approval is not None and approval.status in ("allowed_once", "allowed_always")
        if review.decision is ActionDecision.ASK and not (
            allowed and approval is not None and approval.fingerprint == review.fingerprint
        ):
            raise ValueError("an action that asked a person runs only with that person's allow for the same call")
        ruling, klass = review.ruling, review.klass
        grant = ruling.grant.id if ruling.grant is not None else (approval.grant_id if approval else None)
        decided_by = approval.decided_by if approval is not None else None
        line = one_line(error, ERROR_CHARS) if error else None
        call = await self.store.tool_calls.record(
            task_id=review.task_id,
            tool=review.action.tool,
            effect=klass.effect,
            decision=ruling.decision.value,
            outcome=outcome,
            fingerprint=review.fingerprint,
            preview=review.preview,
            started_at=started_at,
            duration_ms=duration_ms,
            error=line,
            approval_id=approval.id if approval is not None else None,
            decided_by=decided_by,
            rule=ruling.pattern or (", ".join(klass.rules) or None),
            grant_id=grant,
        )
        await self._ledger().record_action(
            AuditEntry(
                kind="action",
                outcome=outcome,
                task_id=review.task_id,
                domains=klass.domains,
                level=ruling.level.value,
                decided_by=decided_by,
                action=AuditAction(
                    tool=review.action.tool,
                    effect=klass.effect.value,
                    source=klass.source,
                    fingerprint=review.fingerprint,
                    preview=review.preview,
                    rule=ruling.pattern,
                    grant=grant,
                    approval=approval.id if approval is not None else None,
                    duration_ms=duration_ms,
                ),
            )
        )
        return call

    # Rows of an approval's life ----------------------------------------------------------------------

    def _rules(self, ids: Iterable[str]) -> tuple[AuditRule, ...]:
        specs = {spec.id: spec for spec in self.gatekeeper.floor.rule_specs}
        return tuple(
            AuditRule(rule, specs[rule].domain, specs[rule].description) if rule in specs else AuditRule(rule, "", "")
            for rule in ids
        )

    async def _audit_approval(
        self, approval: ActionApproval, outcome: str, by: str | None, now: datetime | None
    ) -> None:
        rules = self._rules(approval.rules)
        entry = AuditEntry(
            kind="action",
            outcome=outcome,
            task_id=approval.task_id,
            domains=tuple(dict.fromkeys([approval.domain, *(r.domain for r in rules if r.domain)])),
            rules=rules,
            level=approval.level.value,
            decided_by=by,
            action=AuditAction(
                tool=approval.tool,
                effect=approval.effect.value,
                source=approval.source,
                fingerprint=approval.fingerprint,
                preview=approval.preview,
                grant=approval.grant_id,
                approval=approval.id,
            ),
            at=now or utcnow(),
        )
        await self._ledger().record_action(entry)

    async def _refused_call(self, approval: ActionApproval, outcome: CallOutcome, now: datetime | None) -> None:
        await self.store.tool_calls.record(
            task_id=approval.task_id,
            tool=approval.tool,
            effect=approval.effect,
            decision="ask",
            outcome=outcome,
            fingerprint=approval.fingerprint,
            preview=approval.preview,
            started_at=now,
            approval_id=approval.id,
            decided_by=approval.decided_by,
            rule=", ".join(approval.rules) or None,
        )
