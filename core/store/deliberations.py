"""Deliberations and their votes, linked to the task they were about."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.models import new_id, utcnow
from core.store.db import Database

if TYPE_CHECKING:  # only for annotations: keeps `openkoi status` from importing the model schemas
    from core.deliberation.verdict import Verdict


class DeliberationRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, task_id: str, verdict: Verdict, model: str | None) -> str:
        deliberation_id = new_id()
        assessment = verdict.assessment
        async with self.db.transaction() as conn:
            await conn.execute(
                """INSERT INTO deliberations (id, task_id, outcome, reason, fail_closed, reversibility,
                       blast_radius, permission_level, model, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)""",
                (
                    deliberation_id, task_id, verdict.outcome.value, verdict.reason, int(verdict.fail_closed),
                    assessment.reversibility if assessment else None,
                    assessment.blast_radius if assessment else None,
                    assessment.permission_level if assessment else None,
                    model, utcnow().isoformat(),
                ),
            )  # fmt: skip
            await conn.executemany(
                """INSERT INTO votes (deliberation_id, agency, vote, reason, caveat, estimate_usd, invalid)
                   VALUES (?,?,?,?,?,?,?)""",
                [
                    (deliberation_id, v.agency.value, v.vote.value, v.reason, v.caveat, v.estimate_usd, v.invalid)
                    for v in verdict.votes
                ],
            )
        return deliberation_id

    async def latest(self, task_id: str | None = None) -> dict[str, Any] | None:
        if task_id:
            row = await self.db.fetchone(
                "SELECT * FROM deliberations WHERE task_id = ? ORDER BY created_at DESC, rowid DESC LIMIT 1",
                (task_id,),
            )
        else:
            row = await self.db.fetchone("SELECT * FROM deliberations ORDER BY created_at DESC, rowid DESC LIMIT 1")
        if row is None:
            return None
        result = dict(row)
        votes = await self.db.fetchall(
            "SELECT agency, vote, reason, caveat, estimate_usd, invalid FROM votes WHERE deliberation_id = ? ORDER BY id",
            (row["id"],),
        )
        result["votes"] = [dict(v) for v in votes]
        task = await self.db.fetchone("SELECT description FROM tasks WHERE id = ?", (row["task_id"],))
        result["task"] = task["description"] if task else None
        return result
