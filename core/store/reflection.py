"""Read-only queries behind the reflection figures (``core.reflection``): counts, sums and lists
over a time range ``[start, end)`` given as ISO-8601 UTC text, the way every timestamp is stored.

Every range predicate is on an indexed column (usage_events.finished_at, usage.created_at,
feedback.updated_at, confirmations.decided_at, memories.created_at, tasks(status, created_at)), and
aggregation happens in SQL (GROUP BY), so a week of 100,000 events is read in a few queries.

Which time puts a row in a period:
- a task: when it ended (``usage_events.finished_at``), or, for one still waiting on a person, when
  it was asked (``tasks.created_at``);
- money and tokens: when the model call was made (``usage.created_at``), whatever task it served;
- a vote: when it was cast or last changed (``feedback.updated_at``);
- an override: when it was decided (``confirmations.decided_at``);
- a learning: when it was added (``memories.created_at``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import TypeVar

from core.models import TaskStatus
from core.store.db import Database
from core.store.reflection_rows import (
    BelowBar,
    DissentingVote,
    DownVote,
    EconomistCheck,
    Escalation,
    FeedbackFigures,
    FeedbackNote,
    LearningFigures,
    ModelSpend,
    Override,
    OverrideFailure,
    Place,
    Regression,
    TaskFigures,
)
from core.store.skill_uses import SkillOutcomes

R = TypeVar("R")

# An overridden block "then failed" when the task ended without a result that met its bar.
_FELL_SHORT = TaskStatus.values({TaskStatus.FAILED, TaskStatus.ABORTED, TaskStatus.BELOW_BAR})

# A cancelled task whose block nobody overrode (denied, expired, or cancelled while waiting) ended
# because of the block: it counts as blocked, not as an ordinary cancellation.
_OUTCOME = """CASE WHEN e.outcome = 'cancelled' AND EXISTS (
                  SELECT 1 FROM confirmations c WHERE c.task_id = e.task_id
                   AND c.status IN ('denied', 'expired', 'cancelled'))
              THEN 'blocked' ELSE e.outcome END"""
_ENDED = "e.finished_at >= ? AND e.finished_at < ?"
_FIRST_SCORE = """(SELECT c.score FROM iteration_cycles c WHERE c.task_id = e.task_id AND c.score IS NOT NULL
                    ORDER BY c.iteration LIMIT 1)"""
_LAST_SCORE = """(SELECT c.score FROM iteration_cycles c WHERE c.task_id = e.task_id AND c.score IS NOT NULL
                   ORDER BY c.iteration DESC LIMIT 1)"""


def _each(make: Callable[..., R], rows: Sequence[sqlite3.Row]) -> list[R]:
    """Each row made into ``make``'s type, its columns passed by name: the query names them after the fields."""
    return [make(**dict(r)) for r in rows]


def _bucket(column: str, bounds: Sequence[str]) -> tuple[str, list[str]]:
    """A CASE expression numbering the ranges between consecutive ``bounds`` (0, 1, ...), and its parameters.
    Rows before ``bounds[0]`` or from ``bounds[-1]`` on get NULL; callers filter them out with a range."""
    whens = " ".join(f"WHEN {column} < ? THEN {i}" for i in range(len(bounds) - 1))
    return f"CASE WHEN {column} < ? THEN NULL {whens} ELSE NULL END", [bounds[0], *bounds[1:]]


async def outcomes(db: Database, start: str, end: str) -> dict[str, int]:
    """Finished tasks by outcome (a task's final status, with blocked ones told apart from cancelled),
    plus ``blocked`` tasks asked in the range that still wait for a person."""
    rows = await db.fetchall(
        f"SELECT {_OUTCOME} AS outcome, COUNT(*) AS n FROM usage_events e WHERE {_ENDED} GROUP BY 1", (start, end)
    )
    counts = {str(r["outcome"]): int(r["n"]) for r in rows}
    waiting = await db.fetchone(
        "SELECT COUNT(*) FROM tasks WHERE status = 'awaiting_confirmation' AND created_at >= ? AND created_at < ?",
        (start, end),
    )
    if waiting and waiting[0]:
        counts["blocked"] = counts.get("blocked", 0) + int(waiting[0])
    return counts


async def task_figures(db: Database, start: str, end: str) -> TaskFigures:
    """Over tasks that ended in the range: how many, their final scores, iterations, and the first-to-final
    figures (see ``TaskFigures``). The final score is the task's own (the delivered output's), else its
    last scored iteration's."""
    row = await db.fetchone(
        f"""SELECT COUNT(*) AS tasks, COUNT(score) AS scored, AVG(score) AS mean_score,
                   COALESCE(SUM(iterations), 0) AS iterations, COUNT(NULLIF(iterations, 0)) AS ran,
                   COUNT(first) AS gain_tasks, AVG(first) AS mean_first,
                   AVG(CASE WHEN first IS NOT NULL THEN final END) AS mean_final,
                   AVG(final - first) AS mean_gain
            FROM (SELECT e.score, e.iterations, {_FIRST_SCORE} AS first, COALESCE(e.score, {_LAST_SCORE}) AS final
                  FROM usage_events e WHERE {_ENDED})""",
        (start, end),
    )
    return TaskFigures(**dict(row)) if row else TaskFigures()


async def places(db: Database, start: str, end: str) -> list[Place]:
    """Tasks that ended in the range by ``platform`` and ``channel`` (None for the terminal), most first."""
    rows = await db.fetchall(
        f"""SELECT platform, channel, COUNT(*) AS tasks FROM usage_events e WHERE {_ENDED}
            GROUP BY platform, channel ORDER BY tasks DESC, platform, channel""",
        (start, end),
    )
    return _each(Place, rows)


async def models(db: Database, start: str, end: str) -> list[ModelSpend]:
    """Model calls made in the range by ``model``: ``calls``, ``tokens``, ``cost_usd``, ``unpriced`` calls."""
    rows = await db.fetchall(
        """SELECT model, COUNT(*) AS calls, SUM(prompt_tokens + completion_tokens) AS tokens,
                  SUM(cost_usd) AS cost_usd, SUM(1 - priced) AS unpriced
           FROM usage WHERE created_at >= ? AND created_at < ?
           GROUP BY model ORDER BY cost_usd DESC, tokens DESC, model""",
        (start, end),
    )
    return [
        ModelSpend(r["model"], r["calls"], int(r["tokens"]), float(r["cost_usd"]), int(r["unpriced"])) for r in rows
    ]


async def overrides(db: Database, start: str, end: str) -> list[Override]:
    """Confirmations decided in the range (approved, denied, expired, cancelled), oldest first, with who
    decided (None when it expired) and how the task ended (``task_status``)."""
    rows = await db.fetchall(
        """SELECT c.task_id, c.kind, c.status, c.decided_by, c.decided_at, t.description, t.status AS task_status
           FROM confirmations c JOIN tasks t ON t.id = c.task_id
           WHERE c.decided_at >= ? AND c.decided_at < ? ORDER BY c.decided_at, c.rowid""",
        (start, end),
    )
    return _each(Override, rows)


async def dissent(db: Database, start: str, end: str) -> list[DissentingVote]:
    """Votes that disagreed with their deliberation's verdict, for tasks that ended in the range: a BLOCK
    under an approval, or an APPROVE / APPROVE_WITH_CAVEAT under a block. One row per such vote; an
    invalid ballot (not a judgement) disagrees with nothing."""
    rows = await db.fetchall(
        f"""SELECT d.task_id, t.description, d.outcome AS verdict, d.agency, d.vote, d.reason
            FROM (SELECT e.task_id, e.finished_at, d.created_at, d.outcome, v.id, v.agency, v.vote, v.reason
                    FROM usage_events e CROSS JOIN deliberations d ON d.task_id = e.task_id
                    CROSS JOIN votes v ON v.deliberation_id = d.id
                   WHERE {_ENDED} AND v.invalid IS NULL AND ((d.outcome = 'approved' AND v.vote = 'BLOCK')
                         OR (d.outcome <> 'approved' AND v.vote IN ('APPROVE', 'APPROVE_WITH_CAVEAT')))) d
            JOIN tasks t ON t.id = d.task_id
            ORDER BY d.finished_at, d.created_at, d.id""",
        (start, end),
    )
    return _each(DissentingVote, rows)


async def learnings(db: Database, start: str, end: str, sample: int = 5) -> LearningFigures:
    """Memories created in the range (with up to ``sample`` of their texts, newest first), and those
    reinforced at least once whose last use falls in the range (the store keeps no time per
    reinforcement, and recall also marks use, so this is an upper bound)."""
    added = await db.fetchone("SELECT COUNT(*) FROM memories WHERE created_at >= ? AND created_at < ?", (start, end))
    reinforced = await db.fetchone(
        "SELECT COUNT(*) FROM memories WHERE reinforcements > 0 AND last_used_at >= ? AND last_used_at < ?",
        (start, end),
    )
    texts = await db.fetchall(
        """SELECT text FROM memories WHERE created_at >= ? AND created_at < ?
           ORDER BY created_at DESC, seq DESC LIMIT ?""",
        (start, end, sample),
    )
    return LearningFigures(
        added=int(added[0]) if added else 0,
        reinforced=int(reinforced[0]) if reinforced else 0,
        examples=tuple(str(r[0]) for r in texts),
    )


async def feedback(db: Database, start: str, end: str) -> FeedbackFigures:
    """Votes cast or changed in the range: 👍 and 👎 counts, and each vote with a note, oldest first."""
    counts = await db.fetchone(
        """SELECT COALESCE(SUM(vote = 1), 0) AS up, COALESCE(SUM(vote = -1), 0) AS down
           FROM feedback WHERE updated_at >= ? AND updated_at < ?""",
        (start, end),
    )
    notes = await db.fetchall(
        """SELECT f.task_id, f.vote, f.note, f.voter, t.description FROM feedback f JOIN tasks t ON t.id = f.task_id
           WHERE f.updated_at >= ? AND f.updated_at < ? AND f.note IS NOT NULL AND f.note <> ''
           ORDER BY f.updated_at, f.task_id""",
        (start, end),
    )
    return FeedbackFigures(
        up=int(counts["up"]) if counts else 0,
        down=int(counts["down"]) if counts else 0,
        notes=tuple(_each(FeedbackNote, notes)),
    )


async def daily_scores(db: Database, bounds: Sequence[str]) -> dict[int, tuple[int, int, float | None]]:
    """For each range between consecutive ``bounds`` (by index): tasks that ended in it, how many of
    them were scored, and their mean final score (None when none was scored). Ranges with no task are absent."""
    case, params = _bucket("finished_at", bounds)
    rows = await db.fetchall(
        f"""SELECT day, COUNT(*) AS tasks, COUNT(score) AS scored, AVG(score) AS mean_score FROM (
                SELECT {case} AS day, score FROM usage_events WHERE finished_at >= ? AND finished_at < ?)
            GROUP BY day""",
        (*params, bounds[0], bounds[-1]),
    )
    return {int(r["day"]): (int(r["tasks"]), int(r["scored"]), r["mean_score"]) for r in rows if r["day"] is not None}


async def daily_costs(db: Database, bounds: Sequence[str]) -> dict[int, tuple[int, float]]:
    """For each range between consecutive ``bounds``: model calls made in it and what they cost.
    Ranges with no call are absent."""
    case, params = _bucket("created_at", bounds)
    rows = await db.fetchall(
        f"""SELECT day, COUNT(*) AS calls, SUM(cost_usd) AS cost_usd FROM (
                SELECT {case} AS day, cost_usd FROM usage WHERE created_at >= ? AND created_at < ?)
            GROUP BY day""",
        (*params, bounds[0], bounds[-1]),
    )
    return {int(r["day"]): (int(r["calls"]), float(r["cost_usd"])) for r in rows if r["day"] is not None}


# --- the honest view ---------------------------------------------------------------------------


async def down_votes(db: Database, start: str, end: str) -> list[DownVote]:
    """👎 votes cast or changed in the range, oldest first, with the task's final status, decision
    (``accept`` means its score met the quality threshold) and score."""
    rows = await db.fetchall(
        """SELECT f.task_id, f.voter, f.note, t.description, t.status, t.decision, t.score
           FROM feedback f JOIN tasks t ON t.id = f.task_id
           WHERE f.updated_at >= ? AND f.updated_at < ? AND f.vote = -1 ORDER BY f.updated_at, f.task_id""",
        (start, end),
    )
    return _each(DownVote, rows)


async def regressions(db: Database, start: str, end: str) -> list[Regression]:
    """Tasks that ended in the range where a later iteration scored lower than an earlier one, or that the
    loop stopped for a regression: ``drop`` (the largest fall, None if only the decision says so),
    ``scores`` (the scored iterations in order, e.g. "0.80 → 0.60"), the decision."""
    rows = await db.fetchall(
        f"""SELECT * FROM (
                SELECT e.task_id, t.description, e.decision,
                       (SELECT MAX(a.score - b.score) FROM iteration_cycles a JOIN iteration_cycles b
                           ON b.task_id = a.task_id AND b.iteration > a.iteration
                         WHERE a.task_id = e.task_id AND b.score < a.score) AS drop_,
                       (SELECT group_concat(printf('%.2f', s.score), ' → ') FROM (
                           SELECT score FROM iteration_cycles WHERE task_id = e.task_id AND score IS NOT NULL
                            ORDER BY iteration) s) AS scores
                FROM usage_events e JOIN tasks t ON t.id = e.task_id WHERE {_ENDED}
                ORDER BY e.finished_at)
            WHERE drop_ IS NOT NULL OR decision = 'abort_regression'""",
        (start, end),
    )
    return [Regression(r["task_id"], r["description"], r["decision"], r["drop_"], r["scores"]) for r in rows]


async def _ended_as(db: Database, start: str, end: str, status: TaskStatus) -> Sequence[sqlite3.Row]:
    """Tasks that ended with ``status`` in the range, with the reason recorded and the final score."""
    rows = await db.fetchall(
        f"""SELECT e.task_id, t.description, t.error AS reason, e.score FROM usage_events e
            JOIN tasks t ON t.id = e.task_id WHERE {_ENDED} AND e.outcome = ? ORDER BY e.finished_at""",
        (start, end, status.value),
    )
    return rows


async def escalations(db: Database, start: str, end: str) -> list[Escalation]:
    """Tasks that ended escalated (a person is needed) in the range, with the reason recorded."""
    return _each(Escalation, await _ended_as(db, start, end, TaskStatus.ESCALATED))


async def below_bar(db: Database, start: str, end: str) -> list[BelowBar]:
    """Tasks whose result ended below its quality bar in the range, with the reason recorded."""
    return _each(BelowBar, await _ended_as(db, start, end, TaskStatus.BELOW_BAR))


async def overridden_then_failed(db: Database, start: str, end: str) -> list[OverrideFailure]:
    """Tasks that ended in the range as failed, aborted or below their bar after a person overrode their block."""
    rows = await db.fetchall(
        f"""SELECT e.task_id, t.description, e.outcome, t.error AS reason, c.decided_by, c.kind
            FROM usage_events e JOIN tasks t ON t.id = e.task_id
            JOIN confirmations c ON c.task_id = e.task_id AND c.status = 'approved'
            WHERE {_ENDED} AND e.outcome IN ({",".join("?" * len(_FELL_SHORT))}) ORDER BY e.finished_at""",
        (start, end, *_FELL_SHORT),
    )
    return _each(OverrideFailure, rows)


async def economist_votes(db: Database, start: str, end: str) -> list[EconomistCheck]:
    """The Economist's vote on each task that ended in the range, with its cost estimate (None before
    estimates were recorded) and the task's actual cost, oldest first. A task deliberated more than
    once (resumed) has a row per deliberation."""
    rows = await db.fetchall(
        f"""SELECT e.task_id, t.description, v.vote, COALESCE(v.caveat, v.reason) AS reason, v.estimate_usd,
                   e.cost_usd
            FROM usage_events e JOIN tasks t ON t.id = e.task_id JOIN deliberations d ON d.task_id = e.task_id
            JOIN votes v ON v.deliberation_id = d.id AND v.agency = 'economist'
            WHERE {_ENDED} ORDER BY e.finished_at, v.id""",
        (start, end),
    )
    return [
        EconomistCheck(
            r["task_id"],
            r["description"],
            r["vote"],
            r["reason"],
            float(r["cost_usd"]),
            None if r["estimate_usd"] is None else float(r["estimate_usd"]),
        )
        for r in rows
    ]


# --- growth ------------------------------------------------------------------------------------


async def memories_total(db: Database, before: str) -> int:
    row = await db.fetchone("SELECT COUNT(*) FROM memories WHERE created_at < ?", (before,))
    return int(row[0]) if row else 0


async def memories_per_range(db: Database, bounds: Sequence[str]) -> dict[int, int]:
    """Memories added in each range between consecutive ``bounds``; ranges with none are absent."""
    case, params = _bucket("created_at", bounds)
    rows = await db.fetchall(
        f"""SELECT bucket, COUNT(*) AS n FROM (SELECT {case} AS bucket FROM memories
                WHERE created_at >= ? AND created_at < ?) GROUP BY bucket""",
        (*params, bounds[0], bounds[-1]),
    )
    return {int(r["bucket"]): int(r["n"]) for r in rows if r["bucket"] is not None}


async def ended_as_per_range(db: Database, bounds: Sequence[str], status: TaskStatus) -> dict[int, int]:
    """Tasks that ended with ``status`` in each range between consecutive ``bounds``; ranges with none are absent."""
    case, params = _bucket("finished_at", bounds)
    rows = await db.fetchall(
        f"""SELECT bucket, COUNT(*) AS n FROM (SELECT {case} AS bucket FROM usage_events
                WHERE finished_at >= ? AND finished_at < ? AND outcome = ?) GROUP BY bucket""",
        (*params, bounds[0], bounds[-1], status.value),
    )
    return {int(r["bucket"]): int(r["n"]) for r in rows if r["bucket"] is not None}


async def scores_per_range(db: Database, bounds: Sequence[str]) -> dict[int, tuple[int, float | None]]:
    """Tasks that ended in each range and their mean final score (as ``daily_scores``)."""
    return {i: (tasks, mean) for i, (tasks, _, mean) in (await daily_scores(db, bounds)).items()}


async def skills_known(db: Database) -> int:
    """Distinct task skills ever chosen for a task."""
    row = await db.fetchone("SELECT COUNT(DISTINCT skill) FROM task_skills")
    return int(row[0]) if row else 0


async def skill_outcomes_per_range(db: Database, bounds: Sequence[str]) -> list[tuple[int, SkillOutcomes]]:
    """Per skill and range (by the time the task ended; the range's index first): the figures a skill's
    effectiveness is made of, as in ``core.store.skill_uses`` but split by time."""
    case, params = _bucket("e.finished_at", bounds)
    # The tasks that ended in the range drive the read (CROSS JOIN keeps SQLite from scanning every
    # task's skills first), and each one's votes are summed through feedback's key: a task nobody
    # rated has NULL up and down, so it is not counted as rated.
    rows = await db.fetchall(
        f"""SELECT skill, bucket, COUNT(*) AS tasks, COUNT(score) AS scored, COALESCE(SUM(score), 0) AS score_sum,
                   COUNT(up) AS rated, COALESCE(SUM(CAST(up AS REAL) / (up + down)), 0) AS approval_sum,
                   COALESCE(SUM(up), 0) AS up, COALESCE(SUM(down), 0) AS down
            FROM (SELECT ts.skill AS skill, {case} AS bucket, e.score AS score,
                         (SELECT SUM(vote = 1) FROM feedback f WHERE f.task_id = e.task_id) AS up,
                         (SELECT SUM(vote = -1) FROM feedback f WHERE f.task_id = e.task_id) AS down
                  FROM usage_events e CROSS JOIN task_skills ts ON ts.task_id = e.task_id
                  WHERE e.finished_at >= ? AND e.finished_at < ?)
            GROUP BY skill, bucket ORDER BY skill, bucket""",
        (*params, bounds[0], bounds[-1]),
    )
    return [
        (int(r["bucket"]), SkillOutcomes(**{k: v for k, v in dict(r).items() if k != "bucket"}))
        for r in rows
        if r["bucket"] is not None
    ]


async def proposals_approved(db: Database, bounds: Sequence[str]) -> tuple[int, dict[int, int]]:
    """Skill proposals approved in total and per range (by ``decided_at``)."""
    total = await db.fetchone("SELECT COUNT(*) FROM skill_proposals WHERE status = 'approved'")
    case, params = _bucket("decided_at", bounds)
    rows = await db.fetchall(
        f"""SELECT bucket, COUNT(*) AS n FROM (SELECT {case} AS bucket FROM skill_proposals
                WHERE status = 'approved' AND decided_at >= ? AND decided_at < ?) GROUP BY bucket""",
        (*params, bounds[0], bounds[-1]),
    )
    return int(total[0]) if total else 0, {int(r["bucket"]): int(r["n"]) for r in rows if r["bucket"] is not None}
