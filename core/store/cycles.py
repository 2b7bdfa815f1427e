"""Iteration cycles of the PEER loop and the findings their evaluations produced."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from core.models import LoopDecision, new_id, utcnow
from core.store.db import Repository
from core.store.rows import from_row

if TYPE_CHECKING:  # only for annotations: keeps `openkoi status` from importing the model schemas
    from core.outputs import Evaluation


@dataclass(frozen=True)
class CycleRecord:
    """One iteration of the PEER loop as stored: its output, how it was judged, what the loop decided."""

    id: str
    task_id: str
    iteration: int
    output: str  # "" once the task's transcript is compacted
    output_hash: str
    revision: bool
    evaluation_json: str | None  # the evaluation as a document; None when there was none or it was compacted
    score: float | None
    dimension_scores: dict[str, float] | None
    decision: LoopDecision | None
    decision_reason: str | None
    incremental: bool  # evaluated on what changed since the previous iteration
    skipped: bool  # the output was unchanged: the previous evaluation was reused
    tokens: int
    duration_ms: int
    created_at: datetime


@dataclass(frozen=True)
class StoredFinding:
    """A finding of an iteration's evaluation, with the iteration it came from."""

    cycle_id: str
    task_id: str
    iteration: int
    severity: str
    dimension: str
    description: str
    fix: str
    quote: str | None


def _cycle(row: sqlite3.Row) -> CycleRecord:
    return from_row(CycleRecord, row)


class CycleRepository(Repository):
    async def record(
        self,
        *,
        task_id: str,
        iteration: int,
        output: str,
        output_hash: str,
        revision: bool,
        evaluation: Evaluation | None,
        score: float | None,
        dimension_scores: dict[str, float] | None,
        decision: LoopDecision,
        decision_reason: str,
        incremental: bool,
        skipped: bool,
        tokens: int,
        duration_ms: int,
    ) -> str:
        cycle_id = new_id()
        async with self.db.transaction() as conn:
            await conn.execute(
                """INSERT INTO iteration_cycles (id, task_id, iteration, output, output_hash, revision,
                       evaluation_json, score, dimension_scores_json, decision, decision_reason,
                       incremental, skipped, tokens, duration_ms, created_at)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                (
                    cycle_id, task_id, iteration, output, output_hash, int(revision),
                    evaluation.model_dump_json() if evaluation else None, score,
                    json.dumps(dimension_scores) if dimension_scores is not None else None,
                    decision.value, decision_reason, int(incremental), int(skipped), tokens,
                    duration_ms, utcnow().isoformat(),
                ),
            )  # fmt: skip
            if evaluation is not None and not skipped:
                await conn.executemany(
                    """INSERT INTO findings (cycle_id, task_id, severity, dimension, description, fix, quote)
                       VALUES (?,?,?,?,?,?,?)""",
                    [
                        (cycle_id, task_id, f.severity.value, f.dimension, f.description, f.fix, f.quote)
                        for f in evaluation.findings
                    ],
                )
        return cycle_id

    async def for_task(self, task_id: str) -> list[CycleRecord]:
        """The task's iterations, in order."""
        rows = await self.db.fetchall("SELECT * FROM iteration_cycles WHERE task_id = ? ORDER BY iteration", (task_id,))
        return [_cycle(r) for r in rows]

    async def findings(self, task_id: str) -> list[StoredFinding]:
        """Every finding of the task's evaluations, by iteration and then in the order they were given."""
        rows = await self.db.fetchall(
            """SELECT f.cycle_id, f.task_id, c.iteration, f.severity, f.dimension, f.description, f.fix, f.quote
               FROM findings f JOIN iteration_cycles c ON c.id = f.cycle_id
               WHERE f.task_id = ? ORDER BY c.iteration, f.id""",
            (task_id,),
        )
        return [StoredFinding(*r) for r in rows]
