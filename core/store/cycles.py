"""Iteration cycles of the PEER loop and the findings their evaluations produced."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from core.models import LoopDecision, new_id, utcnow
from core.store.db import Database

if TYPE_CHECKING:  # only for annotations: keeps `openkoi status` from importing the model schemas
    from core.outputs import Evaluation


class CycleRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

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

    async def for_task(self, task_id: str) -> list[dict[str, Any]]:
        rows = await self.db.fetchall("SELECT * FROM iteration_cycles WHERE task_id = ? ORDER BY iteration", (task_id,))
        return [dict(r) for r in rows]

    async def findings(self, task_id: str) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            """SELECT f.*, c.iteration FROM findings f JOIN iteration_cycles c ON c.id = f.cycle_id
               WHERE f.task_id = ? ORDER BY c.iteration, f.id""",
            (task_id,),
        )
        return [dict(r) for r in rows]
