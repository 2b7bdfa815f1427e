"""Confirmations: a person's decision to override a block, recorded once (atomic state change)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.models import new_id, utcnow
from core.store.db import Repository
from core.store.rows import from_row

PENDING = "pending"


@dataclass(frozen=True)
class Confirmation:
    """A person's decision asked for on a blocked task, and what became of it."""

    id: str
    task_id: str
    kind: str  # the verdict that asked for it, e.g. guardian_block
    reason: str
    status: str  # pending, then approved, denied, expired or cancelled (once)
    requested_by: str | None
    decided_by: str | None  # None while pending, and when it expired
    decided_at: datetime | None
    expires_at: datetime | None  # None: it waits as long as it takes
    created_at: datetime

    @property
    def pending(self) -> bool:
        return self.status == PENDING

    def has_expired(self, now: datetime | None = None) -> bool:
        """Past its deadline at ``now`` (default: now), whether or not the expiry has been recorded yet:
        the one rule for when a request may no longer be decided."""
        return self.expires_at is not None and self.expires_at <= (now or utcnow())


def _confirmation(row: sqlite3.Row) -> Confirmation:
    return from_row(Confirmation, row)


class ConfirmationRepository(Repository):
    async def create(
        self, task_id: str, kind: str, reason: str, requested_by: str | None, ttl: timedelta | None
    ) -> str:
        confirmation_id = new_id()
        now = utcnow()
        expires = (now + ttl).isoformat() if ttl else None
        await self.db.execute(
            """INSERT INTO confirmations (id, task_id, kind, reason, status, requested_by, expires_at, created_at)
               VALUES (?,?,?,?,?,?,?,?)""",
            (confirmation_id, task_id, kind, reason, PENDING, requested_by, expires, now.isoformat()),
        )
        return confirmation_id

    async def decide(self, confirmation_id: str, status: str, decided_by: str | None) -> bool:
        """Move a pending confirmation to ``status``. Returns False if it was already decided.

        The WHERE clause makes the change single-use: of two concurrent presses only one wins.
        """
        now = utcnow().isoformat()
        changed = await self.db.execute(
            """UPDATE confirmations SET status = ?, decided_by = ?, decided_at = ?
               WHERE id = ? AND status = ?""",
            (status, decided_by, now, confirmation_id, PENDING),
        )
        return changed == 1

    async def get(self, confirmation_id: str) -> Confirmation | None:
        row = await self.db.fetchone("SELECT * FROM confirmations WHERE id = ?", (confirmation_id,))
        return _confirmation(row) if row else None

    async def pending_for_task(self, task_id: str) -> Confirmation | None:
        row = await self.db.fetchone(
            "SELECT * FROM confirmations WHERE task_id = ? AND status = ? ORDER BY created_at DESC LIMIT 1",
            (task_id, PENDING),
        )
        return _confirmation(row) if row else None

    async def latest_for_task(self, task_id: str) -> Confirmation | None:
        row = await self.db.fetchone(
            "SELECT * FROM confirmations WHERE task_id = ? ORDER BY created_at DESC, rowid DESC LIMIT 1", (task_id,)
        )
        return _confirmation(row) if row else None

    async def expired(self, now: datetime | None = None) -> list[Confirmation]:
        """The pending confirmations past their deadline at ``now`` (see ``Confirmation.has_expired``)."""
        moment = now or utcnow()
        rows = await self.db.fetchall(
            "SELECT * FROM confirmations WHERE status = ? AND expires_at IS NOT NULL ORDER BY created_at", (PENDING,)
        )
        return [c for c in map(_confirmation, rows) if c.has_expired(moment)]
