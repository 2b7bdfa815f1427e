"""Trust grants (append-only rows, see ``core.gate.trust``) and the grants in chat that wait for a second
approver (single-use, expiring)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from core.gate.trust import Grant, GrantKind, TrustLevel
from core.models import new_id, utcnow
from core.store.db import Database
from core.store.rows import from_row

RequestStatus = Literal["pending", "approved", "refused", "expired"]


@dataclass(frozen=True)
class TrustRequest:
    """A grant asked for in chat, waiting for another approver's press."""

    id: str
    domain: str
    level: TrustLevel
    reason: str | None
    duration: timedelta | None
    requested_by: str
    requester_id: str
    platform: str
    channel_id: str
    message_id: str | None
    status: RequestStatus
    decided_by: str | None
    decided_at: datetime | None
    grant_id: str | None
    expires_at: datetime
    created_at: datetime


# A request stores its duration in seconds; read back, it is the ``duration`` a person asked for.
_REQUESTS = "SELECT *, duration_seconds AS duration FROM trust_requests"


def _grant(row: sqlite3.Row) -> Grant:
    return from_row(Grant, row)


def _request(row: sqlite3.Row) -> TrustRequest:
    return from_row(TrustRequest, row, duration=lambda seconds: timedelta(seconds=float(seconds)))


class TrustRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self,
        *,
        domain: str,
        level: TrustLevel,
        kind: GrantKind,
        granted_by: str,
        source: str,
        reason: str | None = None,
        expires_at: datetime | None = None,
        approved_by: str | None = None,
        now: datetime | None = None,
    ) -> Grant:
        """Append a grant or revoke row (rows are never changed: the table refuses updates and deletes)."""
        grant = Grant(
            id=new_id(),
            domain=domain,
            level=level,
            kind=kind,
            granted_by=granted_by,
            reason=reason,
            created_at=now or utcnow(),
            expires_at=expires_at,
            source=source,
            approved_by=approved_by,
        )
        await self.db.execute(
            """INSERT INTO trust_grants (id, domain, level, kind, granted_by, approved_by, reason, source,
                   expires_at, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)""",
            (
                grant.id, domain, level.value, kind, granted_by, approved_by, reason, source,
                expires_at.isoformat() if expires_at else None, grant.created_at.isoformat(),
            ),
        )  # fmt: skip
        return grant

    async def history(self, domains: list[str] | None = None) -> list[Grant]:
        """Every row (of ``domains``, when given), oldest first."""
        if domains is None:
            rows = await self.db.fetchall("SELECT * FROM trust_grants ORDER BY created_at, seq")
        else:
            if not domains:
                return []
            marks = ",".join("?" for _ in domains)
            rows = await self.db.fetchall(
                f"SELECT * FROM trust_grants WHERE domain IN ({marks}) ORDER BY created_at, seq", tuple(domains)
            )
        return [_grant(row) for row in rows]

    # Grants waiting for a second approver ------------------------------------------------------------

    async def request(
        self,
        *,
        domain: str,
        level: TrustLevel,
        reason: str | None,
        duration: timedelta | None,
        requested_by: str,
        requester_id: str,
        platform: str,
        channel_id: str,
        ttl: timedelta,
    ) -> TrustRequest:
        request_id, now = new_id(), utcnow()
        await self.db.execute(
            """INSERT INTO trust_requests (id, domain, level, reason, duration_seconds, requested_by, requester_id,
                   platform, channel_id, status, expires_at, created_at) VALUES (?,?,?,?,?,?,?,?,?,'pending',?,?)""",
            (
                request_id, domain, level.value, reason, duration.total_seconds() if duration else None,
                requested_by, requester_id, platform, channel_id, (now + ttl).isoformat(), now.isoformat(),
            ),
        )  # fmt: skip
        found = await self.get_request(request_id)
        assert found is not None
        return found

    async def get_request(self, request_id: str) -> TrustRequest | None:
        row = await self.db.fetchone(f"{_REQUESTS} WHERE id = ?", (request_id,))
        return _request(row) if row else None

    async def set_message(self, request_id: str, message_id: str) -> None:
        await self.db.execute("UPDATE trust_requests SET message_id = ? WHERE id = ?", (message_id, request_id))

    async def decide_request(
        self, request_id: str, status: RequestStatus, decided_by: str | None, grant_id: str | None = None
    ) -> bool:
        """Move a pending request to ``status``; False when it was no longer pending (single-use: of two
        concurrent presses exactly one wins)."""
        changed = await self.db.execute(
            """UPDATE trust_requests SET status = ?, decided_by = ?, decided_at = ?, grant_id = ?
               WHERE id = ? AND status = 'pending'""",
            (status, decided_by, utcnow().isoformat(), grant_id, request_id),
        )
        return changed == 1

    async def set_grant(self, request_id: str, grant_id: str) -> None:
        """Link a confirmed request to the grant it made."""
        await self.db.execute("UPDATE trust_requests SET grant_id = ? WHERE id = ?", (grant_id, request_id))

    async def expired_requests(self, now: datetime | None = None) -> list[TrustRequest]:
        rows = await self.db.fetchall(
            f"{_REQUESTS} WHERE status = 'pending' AND expires_at <= ?",
            ((now or utcnow()).isoformat(),),
        )
        return [_request(row) for row in rows]
