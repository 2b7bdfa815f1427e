"""Deliberations and their votes, linked to the task they were about."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from core.models import new_id, utcnow
from core.store.db import Repository
from core.store.rows import from_row

if TYPE_CHECKING:  # only for annotations: keeps `openkoi status` from importing the model schemas
    from core.deliberation.verdict import Verdict


@dataclass(frozen=True)
class StoredVote:
    """One agency's vote as recorded (the values of ``core.outputs.Agency`` and ``Vote``)."""

    agency: str
    vote: str  # APPROVE, APPROVE_WITH_CAVEAT, ABSTAIN or BLOCK
    reason: str
    caveat: str | None
    estimate_usd: float | None  # the Economist's cost estimate; None for the others and before estimates
    invalid: str | None = None  # why the ballot was no judgement (not counted); None: a valid vote


@dataclass(frozen=True)
class StoredDeliberation:
    """A recorded deliberation: the verdict on a task, the Guardian's assessment, and every vote."""

    id: str
    task_id: str
    task_description: str | None  # None if the task is gone
    outcome: str  # the verdict: approved, guardian_block or dissent_block
    reason: str
    fail_closed: bool  # the Parliament could not deliberate, so the task was blocked
    reversibility: str | None
    blast_radius: str | None
    permission_level: str | None
    model: str | None
    created_at: datetime
    votes: tuple[StoredVote, ...]


class DeliberationRepository(Repository):
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

    async def latest(self, task_id: str | None = None) -> StoredDeliberation | None:
        """The most recent deliberation (on ``task_id``, or on any task), with its votes in the order cast."""
        if task_id:
            row = await self.db.fetchone(
                "SELECT * FROM deliberations WHERE task_id = ? ORDER BY created_at DESC, rowid DESC LIMIT 1",
                (task_id,),
            )
        else:
            row = await self.db.fetchone("SELECT * FROM deliberations ORDER BY created_at DESC, rowid DESC LIMIT 1")
        if row is None:
            return None
        votes = await self.db.fetchall(
            "SELECT agency, vote, reason, caveat, estimate_usd, invalid FROM votes WHERE deliberation_id = ? ORDER BY id",
            (row["id"],),
        )
        task = await self.db.fetchone("SELECT description FROM tasks WHERE id = ?", (row["task_id"],))
        found = {
            **dict(row),
            "task_description": task["description"] if task else None,
            "votes": tuple(from_row(StoredVote, v) for v in votes),
        }
        return from_row(StoredDeliberation, found)
