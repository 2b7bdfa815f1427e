"""Confirmations: a person's decision to override a block, recorded once (atomic state change)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from core.models import new_id, utcnow
from core.store.db import Database

PENDING = "pending"


class ConfirmationRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

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

    async def get(self, confirmation_id: str) -> dict[str, Any] | None:
        row = await self.db.fetchone("SELECT * FROM confirmations WHERE id = ?", (confirmation_id,))
        return dict(row) if row else None

    async def pending_for_task(self, task_id: str) -> dict[str, Any] | None:
        row = await self.db.fetchone(
            "SELECT * FROM confirmations WHERE task_id = ? AND status = ? ORDER BY created_at DESC LIMIT 1",
            (task_id, PENDING),
        )
        return dict(row) if row else None

    async def latest_for_task(self, task_id: str) -> dict[str, Any] | None:
        row = await self.db.fetchone(
            "SELECT * FROM confirmations WHERE task_id = ? ORDER BY created_at DESC, rowid DESC LIMIT 1", (task_id,)
        )
        return dict(row) if row else None

    async def expired(self, now: datetime | None = None) -> list[dict[str, Any]]:
        moment = (now or utcnow()).isoformat()
        rows = await self.db.fetchall(
            "SELECT * FROM confirmations WHERE status = ? AND expires_at IS NOT NULL AND expires_at <= ?",
            (PENDING, moment),
        )
        return [dict(r) for r in rows]
