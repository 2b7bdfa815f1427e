"""Actions waiting for a person (approvals: single-use, expiring, bound to one exact call) and the standing
"allow always for this tool in this domain" grants (append-only rows). What the rows mean is decided in
``core.gate.action_gate``; this module only keeps them.

Timestamps are stored as UTC ISO strings with microseconds, so that comparing them as text in SQL (an
approval's expiry) is comparing them as moments.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from core.acting.action import Effect
from core.gate.trust import TrustLevel
from core.models import new_id, utcnow
from core.store.db import Repository
from core.store.rows import from_row

ApprovalStatus = Literal["pending", "allowed_once", "allowed_always", "denied", "expired"]
DecidedStatus = Literal["allowed_once", "allowed_always", "denied"]
GrantKind = Literal["grant", "revoke"]


def stamp(moment: datetime) -> str:
    """``moment`` as stored: UTC, with microseconds (text order is time order)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class ActionApproval:
    """A proposed action waiting for a person's Allow once / Allow always / Deny, and what became of it."""

    id: str
    task_id: str | None
    tool: str
    fingerprint: str  # of the exact tool and arguments: a decision must name the same
    preview: str  # the arguments, redacted and shortened
    reason: str  # why the agent wants it (redacted, shortened)
    effect: Effect
    source: str  # who classified it (core.gate.action_class.ClassSource)
    rules: tuple[str, ...]  # the floor rules that matched
    domain: str
    level: TrustLevel  # the trust level in force when it was asked
    requested_by: str | None
    requested_at: datetime
    expires_at: datetime
    status: ApprovalStatus
    decided_by: str | None
    decided_at: datetime | None
    grant_id: str | None  # the standing grant an "allow always" made

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    def has_expired(self, now: datetime | None = None) -> bool:
        """Past its deadline at ``now``, whether or not the expiry has been recorded yet."""
        return self.expires_at <= (now or utcnow())


@dataclass(frozen=True)
class StandingGrant:
    """One row of "allow always for this tool in this domain": a grant, or a revoke of it."""

    id: str
    tool: str
    domain: str
    kind: GrantKind
    granted_by: str
    approval_id: str | None
    reason: str | None
    created_at: datetime


def _approval(row: sqlite3.Row) -> ActionApproval:
    return from_row(ActionApproval, row)


def _grant(row: sqlite3.Row) -> StandingGrant:
    return from_row(StandingGrant, row)


class ActionRepository(Repository):
    """Approvals and standing grants."""

    # Approvals ---------------------------------------------------------------------------------------

    async def request(
        self,
        *,
        task_id: str | None,
        tool: str,
        fingerprint: str,
        preview: str,
        reason: str,
        effect: Effect,
        source: str,
        rules: tuple[str, ...],
        domain: str,
        level: TrustLevel,
        requested_by: str | None,
        ttl: timedelta,
        now: datetime | None = None,
    ) -> ActionApproval:
        """Add a pending approval that expires ``ttl`` from ``now``."""
        approval_id, moment = new_id(), now or utcnow()
        await self.db.execute(
            """INSERT INTO action_approvals (id, task_id, tool, fingerprint, preview, reason, effect, source,
                   rules_json, domain, level, requested_by, requested_at, expires_at, status)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,'pending')""",
            (
                approval_id, task_id, tool, fingerprint, preview, reason, effect.value, source,
                json.dumps(list(rules), ensure_ascii=False), domain, level.value, requested_by, stamp(moment), stamp(moment + ttl),
            ),
        )  # fmt: skip
        return await self.get(approval_id)

    async def get(self, approval_id: str) -> ActionApproval:
        """The approval ``approval_id``; ``NotFound`` when there is none."""
        row = await self.one(
            "SELECT * FROM action_approvals WHERE id = ?", (approval_id,), f"no action approval with id '{approval_id}'"
        )
        return _approval(row)

    async def find(self, approval_id: str) -> ActionApproval | None:
        row = await self.db.fetchone("SELECT * FROM action_approvals WHERE id = ?", (approval_id,))
        return _approval(row) if row else None

    async def pending(self, task_id: str | None = None) -> list[ActionApproval]:
        """The approvals still pending (of ``task_id``), oldest first, expired or not: they outlive a restart."""
        where, params = "status = 'pending'", []
        if task_id is not None:
            where += " AND task_id = ?"
            params.append(task_id)
        rows = await self.db.fetchall(f"SELECT * FROM action_approvals WHERE {where} ORDER BY requested_at", params)
        return [_approval(row) for row in rows]

    async def decide(
        self, approval_id: str, fingerprint: str, status: DecidedStatus, by: str, now: datetime | None = None
    ) -> ActionApproval | None:
        """Decide a pending approval, once: one UPDATE that changes it only while it is pending, unexpired at
        ``now`` and for ``fingerprint``. ``allowed_always`` adds the standing grant in the same transaction.
        None when nothing changed (an unknown id, another call's fingerprint, already decided, expired): of two
        concurrent decisions exactly one wins."""
        moment = stamp(now or utcnow())
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                """UPDATE action_approvals SET status = ?, decided_by = ?, decided_at = ?
                   WHERE id = ? AND fingerprint = ? AND status = 'pending' AND expires_at > ?""",
                (status, by, moment, approval_id, fingerprint, moment),
            )
            if cursor.rowcount != 1:
                return None
            if status == "allowed_always":
                found = await (
                    await conn.execute("SELECT tool, domain FROM action_approvals WHERE id = ?", (approval_id,))
                ).fetchone()
                assert found is not None
                grant_id = new_id()
                await conn.execute(
                    """INSERT INTO action_grants (id, tool, domain, kind, granted_by, approval_id, created_at)
                       VALUES (?,?,?,'grant',?,?,?)""",
                    (grant_id, found["tool"], found["domain"], by, approval_id, moment),
                )
                await conn.execute("UPDATE action_approvals SET grant_id = ? WHERE id = ?", (grant_id, approval_id))
        return await self.get(approval_id)

    async def expire_due(self, now: datetime | None = None) -> list[ActionApproval]:
        """Mark every pending approval past its deadline ``expired`` (one statement: a decision racing it
        either wins before or finds it expired), and return those this call expired."""
        moment = stamp(now or utcnow())
        async with self.db.write_lock:
            rows = await self.db.conn.execute_fetchall(
                """UPDATE action_approvals SET status = 'expired', decided_at = ?
                   WHERE status = 'pending' AND expires_at <= ? RETURNING *""",
                (moment, moment),
            )
        return sorted((_approval(row) for row in rows), key=lambda approval: approval.requested_at)

    # Standing grants ---------------------------------------------------------------------------------

    async def add_grant(
        self,
        *,
        tool: str,
        domain: str,
        kind: GrantKind,
        granted_by: str,
        approval_id: str | None = None,
        reason: str | None = None,
        now: datetime | None = None,
    ) -> StandingGrant:
        """Append a grant or a revoke of "allow always for ``tool`` in ``domain``" (rows are never changed)."""
        grant_id = new_id()
        await self.db.execute(
            """INSERT INTO action_grants (id, tool, domain, kind, granted_by, approval_id, reason, created_at)
               VALUES (?,?,?,?,?,?,?,?)""",
            (grant_id, tool, domain, kind, granted_by, approval_id, reason, stamp(now or utcnow())),
        )
        row = await self.one("SELECT * FROM action_grants WHERE id = ?", (grant_id,), f"no action grant '{grant_id}'")
        return _grant(row)

    async def grant_in_force(self, tool: str, domain: str) -> StandingGrant | None:
        """The grant that lets ``tool`` run in ``domain`` without asking: its latest row, when that is a grant."""
        row = await self.db.fetchone(
            "SELECT * FROM action_grants WHERE tool = ? AND domain = ? ORDER BY seq DESC LIMIT 1", (tool, domain)
        )
        return _grant(row) if row is not None and row["kind"] == "grant" else None

    async def grants_in_force(self) -> list[StandingGrant]:
        """Every (tool, domain) whose latest row is a grant, by tool and domain."""
        rows = await self.db.fetchall(
            """SELECT g.* FROM action_grants g
               WHERE g.seq = (SELECT MAX(seq) FROM action_grants h WHERE h.tool = g.tool AND h.domain = g.domain)
                 AND g.kind = 'grant'
               ORDER BY g.tool, g.domain"""
        )
        return [_grant(row) for row in rows]

    async def grant_history(self) -> list[StandingGrant]:
        """Every row, oldest first."""
        return [_grant(row) for row in await self.db.fetchall("SELECT * FROM action_grants ORDER BY seq")]
