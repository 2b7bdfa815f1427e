"""Trust grants and the audit ledger over the store: the one path the terminal, chat and the engine take to
read a domain's level, grant or revoke one, and record what the gate decided.

The audit is on by default (``[gate] audit``) and holds metadata only: which rules matched (id, domain,
description), each agency's vote (never its reason), the ballots that did not count and why (the gate's
own words), the level in force, who decided and the outcome. A grant's reason is a person's words, kept
redacted of the service's secrets. Rows older than ``[gate] audit_retention_days`` are pruned by the
scheduled ``audit_pruning`` job and at service start.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from core.deliberation.verdict import Verdict
from core.gate.decision import GateDecision, GateOutcome
from core.gate.domains import Domains
from core.gate.settings import GateSettings
from core.gate.trust import DEFAULT_LEVEL, Grant, GrantKind, LevelInForce, TrustLevel, levels_in_force
from core.models import new_id, utcnow
from core.secrets import SECRETS
from core.store import Store
from core.store.gate_audit import AuditEntry, AuditInvalid, AuditRule, AuditVote

# What the gate's own decisions are recorded as; a person's later decision on a block is a row of its own.
FOLLOW_UPS = {
    "approved": GateOutcome.OVERRIDDEN,
    "denied": GateOutcome.DENIED,
    "expired": GateOutcome.EXPIRED,
    "cancelled": GateOutcome.CANCELLED,
}


def decision_entry(task_id: str, decision: GateDecision, verdict: Verdict | None) -> AuditEntry:
    """The audit row for the gate's decision on a task: metadata only (see the module)."""
    a = verdict.assessment if verdict is not None else None
    return AuditEntry(
        kind="task",
        outcome=decision.outcome.value,
        task_id=task_id,
        domains=decision.floor.domains,
        rules=tuple(AuditRule(m.rule, m.domain, m.description) for m in decision.floor.matches),
        votes=tuple(AuditVote(v.agency.value, v.vote.value) for v in verdict.votes) if verdict is not None else (),
        # The ballots the Parliament's tally found were no judgement, then the one the gate found (its FULL/LOW
        # on a task the floor matched).
        invalid=tuple(AuditInvalid(v.agency.value, v.invalid or "") for v in (verdict.invalid if verdict else ()))
        + tuple(AuditInvalid(b.agency.value, b.why) for b in decision.invalid),
        assessment=f"{a.reversibility}/{a.blast_radius}/{a.permission_level}" if a is not None else None,
        level=decision.level.value if decision.level is not None else None,
        block=decision.block.value if decision.block is not None else None,
        simulated=decision.simulated,
    )


@dataclass
class TrustLedger:
    store: Store
    settings: GateSettings
    domains: Domains

    # Levels ------------------------------------------------------------------------------------------

    async def levels(
        self, domains: tuple[str, ...] | list[str], now: datetime | None = None
    ) -> dict[str, LevelInForce]:
        """The level in force for each of ``domains`` (a domain nobody granted is ``ask``)."""
        history = await self.store.trust.history(list(domains))
        return levels_in_force(domains, history, now or utcnow())

    async def show(self, now: datetime | None = None) -> list[LevelInForce]:
        """Every known domain's level, and any domain with grants that is no longer known (a team rule or
        domain removed since), in the order the domains are known."""
        history = await self.store.trust.history()
        names = list(dict.fromkeys([*self.domains.names, *(row.domain for row in history)]))
        found = levels_in_force(names, history, now or utcnow())
        return [found[name] for name in names]

    # Changes -----------------------------------------------------------------------------------------

    async def grant(
        self,
        domain: str,
        level: TrustLevel,
        *,
        by: str,
        source: str,
        duration: timedelta | None = None,
        reason: str | None = None,
        approved_by: str | None = None,
        now: datetime | None = None,
    ) -> Grant:
        """Append a grant (``UnknownDomain`` for a domain nobody defined) and audit it."""
        moment = now or utcnow()
        expires = moment + duration if duration is not None else None
        return await self._append(domain, level, "grant", by, source, reason, moment, expires, approved_by)

    async def revoke(
        self, domain: str, *, by: str, source: str, reason: str | None = None, now: datetime | None = None
    ) -> Grant:
        """Append a revoke (the domain is back to ``ask`` from now on) and audit it."""
        return await self._append(domain, DEFAULT_LEVEL, "revoke", by, source, reason, now or utcnow())

    async def _append(
        self,
        domain: str,
        level: TrustLevel,
        kind: GrantKind,
        by: str,
        source: str,
        reason: str | None,
        at: datetime,
        expires_at: datetime | None = None,
        approved_by: str | None = None,
    ) -> Grant:
        """The one way a trust row is written: for a known domain, its reason redacted, then audited."""
        grant = await self.store.trust.add(
            domain=self.domains.check(domain),
            level=level,
            kind=kind,
            granted_by=by,
            source=source,
            reason=_clean(reason),
            expires_at=expires_at,
            approved_by=approved_by,
            now=at,
        )
        await self._audit_change(grant)
        return grant

    async def _audit_change(self, grant: Grant) -> None:
        if not self.settings.audit:
            return
        note = []
        if grant.reason:
            note.append(f"reason: {grant.reason}")
        if grant.expires_at is not None:
            note.append(f"until {grant.expires_at.strftime('%Y-%m-%d %H:%M UTC')}")
        if grant.approved_by:
            note.append(f"confirmed by {grant.approved_by}")
        note.append(f"via {grant.source}")
        await self.store.gate_audit.record(
            AuditEntry(
                kind=grant.kind,
                outcome="granted" if grant.kind == "grant" else "revoked",
                domains=(grant.domain,),
                level=grant.level.value,
                decided_by=grant.granted_by,
                note="; ".join(note),
                at=grant.created_at,
            )
        )

    async def audit_request(
        self, domain: str, level: TrustLevel, outcome: str, by: str | None, note: str | None = None
    ) -> None:
        """Audit a grant that waits for a second approver (four eyes): ``requested``, ``refused`` or
        ``expired`` (its confirmation is the grant's own row, ``granted``)."""
        if self.settings.audit:
            entry = AuditEntry(
                kind="grant", outcome=outcome, domains=(domain,), level=level.value, decided_by=by, note=_clean(note)
            )
            await self.store.gate_audit.record(entry)

    # The audit ---------------------------------------------------------------------------------------

    async def record_decision(self, task_id: str, decision: GateDecision, verdict: Verdict | None) -> None:
        if self.settings.audit:
            await self.store.gate_audit.record(decision_entry(task_id, decision, verdict))

    async def record_action(self, entry: AuditEntry) -> None:
        """Record one row of an action's life (kind ``action``: proposed and decided, a person's decision or
        its expiry, then how the call ended); see ``core.gate.action_gate``."""
        if self.settings.audit:
            await self.store.gate_audit.record(entry)

    async def follow_up(self, task_id: str, status: str, decided_by: str | None) -> None:
        """Record a person's (or the clock's) decision on a task the gate blocked: ``status`` is the
        confirmation's new status (approved, denied, expired, cancelled). The row repeats the blocked
        decision's metadata, so each row reads on its own."""
        outcome = FOLLOW_UPS.get(status)
        if not self.settings.audit or outcome is None:
            return
        first = await self.store.gate_audit.decision_for(task_id)
        if first is None:  # a block from before the ledger, or a confirmation of another kind
            entry = AuditEntry(kind="task", outcome=outcome.value, task_id=task_id, decided_by=decided_by)
        else:
            # The blocked decision's metadata, as a new row: its own id and time, nothing simulated or noted.
            entry = replace(
                first,
                outcome=outcome.value,
                decided_by=decided_by,
                simulated=False,
                note=None,
                id=new_id(),
                at=utcnow(),
            )
        await self.store.gate_audit.record(entry)

    async def note_category(self, task_id: str, category: str) -> None:
        if self.settings.audit:
            await self.store.gate_audit.note_category(task_id, category, self.domains.of_category(category))

    async def entries(
        self, domain: str | None = None, since: datetime | None = None, limit: int = 50
    ) -> list[AuditEntry]:
        """The audit's latest rows (about ``domain``: checked, with "did you mean"), oldest first."""
        name = self.domains.check(domain) if domain is not None else None
        return await self.store.gate_audit.entries(name, since, limit)

    async def prune(self, now: datetime | None = None) -> int:
        """Delete audit rows older than the retention; how many went."""
        before = (now or utcnow()) - timedelta(days=self.settings.audit_retention_days)
        return await self.store.gate_audit.prune(before)


def _clean(reason: str | None) -> str | None:
    """A person's reason, trimmed and without the service's secrets; None when empty."""
    text = " ".join((reason or "").split())[:300]
    return SECRETS.redact(text) if text else None
