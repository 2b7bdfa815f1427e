"""The rows behind `openkoi mind agencies|dissent|calibrate`: each agency's ballots joined with how the task
ended, as typed rows (``core.reflection.mind`` makes the figures).

Only a task's latest deliberation counts (a resumed task may have deliberated twice; the latest is the
one its fate followed), and only one that was a real deliberation: a fail-closed one (no usable reply,
counted as a Guardian block) is nobody's judgement and is only counted (``failed_closed``).
``since`` limits the deliberations to those from that moment on (ISO-8601 UTC text; "" for all).

How a task ended (``ending``): its final status, except ``blocked`` (cancelled because nobody overrode
its block: denied, expired, or cancelled while waiting, as in ``core.store.reflection``), ``below_bar``
(done, but the loop stopped with the best output under the quality bar: decision ``accept_best``),
``waiting`` (still waiting for a person), ``unfinished`` (queued or running) and ``simulated`` (a
``--simulate`` run, which executes nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.store.db import Database

_LATEST = """(SELECT d.* FROM deliberations d
              WHERE d.fail_closed = 0 AND d.created_at >= ?
                AND d.rowid = (SELECT d2.rowid FROM deliberations d2 WHERE d2.task_id = d.task_id
                                ORDER BY d2.created_at DESC, d2.rowid DESC LIMIT 1))"""
_ENDING = """CASE
    WHEN json_extract(t.options_json, '$.simulate') THEN 'simulated'
    WHEN t.status = 'cancelled' AND EXISTS (SELECT 1 FROM confirmations c WHERE c.task_id = t.id
                                             AND c.status IN ('denied', 'expired', 'cancelled')) THEN 'blocked'
    WHEN t.status = 'awaiting_confirmation' THEN 'waiting'
    WHEN t.status IN ('queued', 'running') THEN 'unfinished'
    WHEN t.status = 'done' AND t.decision = 'accept_best' THEN 'below_bar'
    ELSE t.status END"""
# The task's latest confirmation (an override request): its status and who decided it.
_CONFIRMATION = """(SELECT c.{column} FROM confirmations c WHERE c.task_id = t.id
                    ORDER BY c.created_at DESC, c.rowid DESC LIMIT 1)"""
# A vote against its deliberation's verdict: a BLOCK under an approval, an approval under a block.
_AGAINST = """((d.outcome = 'approved' AND v.vote = 'BLOCK')
               OR (d.outcome <> 'approved' AND v.vote IN ('APPROVE', 'APPROVE_WITH_CAVEAT')))"""


@dataclass(frozen=True)
class AgencyTally:
    """How many tasks an agency voted ``vote`` on that ended as ``ending``, and their final scores."""

    agency: str
    vote: str
    ending: str
    tasks: int
    scored: int
    score_sum: float


@dataclass(frozen=True)
class DissentVote:
    """A vote against its deliberation's verdict, with the task and how it ended."""

    task_id: str
    description: str
    asked_at: str
    verdict: str  # approved | guardian_block | dissent_block (or a block kind added later)
    agency: str
    vote: str
    reason: str
    ending: str
    score: float | None
    override: str | None  # the latest confirmation's status (approved, denied …); None: none was asked
    decided_by: str | None


@dataclass(frozen=True)
class GuardianBlock:
    """A task the Guardian voted BLOCK on, whether a person overrode it, and how it ended."""

    task_id: str
    description: str
    asked_at: str
    reason: str
    override: str | None  # approved | denied | expired | cancelled | pending; None: no confirmation asked
    decided_by: str | None
    ending: str
    score: float | None


@dataclass(frozen=True)
class Caveat:
    """A caveat an agency approved a task with, and whether the task's output was evaluated at all."""

    task_id: str
    description: str
    agency: str
    text: str
    ending: str
    evaluated: bool  # at least one iteration was scored: the evaluator looked at the output


@dataclass(frozen=True)
class Finding:
    """One of the evaluator's findings on a task (any iteration)."""

    task_id: str
    severity: str
    dimension: str
    description: str
    fix: str


async def agency_tallies(db: Database, since: str = "") -> list[AgencyTally]:
    """Every agency's votes by vote and by how the task ended."""
    rows = await db.fetchall(
        f"""SELECT v.agency, v.vote, {_ENDING} AS ending, COUNT(*) AS tasks, COUNT(t.score) AS scored,
                   COALESCE(SUM(t.score), 0) AS score_sum
            FROM {_LATEST} d JOIN votes v ON v.deliberation_id = d.id JOIN tasks t ON t.id = d.task_id
            GROUP BY v.agency, v.vote, ending ORDER BY v.agency, v.vote, ending""",
        (since,),
    )
    return [AgencyTally(r[0], r[1], r[2], int(r[3]), int(r[4]), float(r[5])) for r in rows]


async def deliberation_counts(db: Database, since: str = "") -> tuple[int, int]:
    """(tasks with a real latest deliberation, deliberations that failed closed) since ``since``."""
    row = await db.fetchone(
        f"SELECT (SELECT COUNT(*) FROM {_LATEST}), "
        "(SELECT COUNT(*) FROM deliberations WHERE fail_closed = 1 AND created_at >= ?)",
        (since, since),
    )
    return (int(row[0]), int(row[1])) if row else (0, 0)


async def dissent_votes(db: Database, since: str = "") -> list[DissentVote]:
    """Every vote against its verdict, newest task first (then in the order the votes were cast)."""
    rows = await db.fetchall(
        f"""SELECT t.id, t.description, t.created_at, d.outcome, v.agency, v.vote, v.reason, {_ENDING} AS ending,
                   t.score, {_CONFIRMATION.format(column="status")}, {_CONFIRMATION.format(column="decided_by")}
            FROM {_LATEST} d JOIN votes v ON v.deliberation_id = d.id JOIN tasks t ON t.id = d.task_id
            WHERE {_AGAINST} ORDER BY t.created_at DESC, t.id, v.id""",
        (since,),
    )
    return [DissentVote(*_row(r)) for r in rows]


async def guardian_blocks(db: Database, since: str = "") -> list[GuardianBlock]:
    """Every task whose (latest, real) deliberation had a Guardian BLOCK, newest first."""
    rows = await db.fetchall(
        f"""SELECT t.id, t.description, t.created_at, v.reason, {_CONFIRMATION.format(column="status")},
                   {_CONFIRMATION.format(column="decided_by")}, {_ENDING} AS ending, t.score
            FROM {_LATEST} d JOIN votes v ON v.deliberation_id = d.id AND v.agency = 'guardian' AND v.vote = 'BLOCK'
            JOIN tasks t ON t.id = d.task_id ORDER BY t.created_at DESC, t.id""",
        (since,),
    )
    return [GuardianBlock(*_row(r)) for r in rows]


async def caveats(db: Database, agencies: Sequence[str], since: str = "") -> list[Caveat]:
    """The caveats ``agencies`` approved tasks with (the caveat, else the vote's reason), newest first."""
    marks = ",".join("?" * len(agencies))
    rows = await db.fetchall(
        f"""SELECT t.id, t.description, v.agency, COALESCE(NULLIF(TRIM(v.caveat), ''), v.reason), {_ENDING} AS ending,
                   EXISTS (SELECT 1 FROM iteration_cycles c WHERE c.task_id = t.id AND c.score IS NOT NULL)
            FROM {_LATEST} d JOIN votes v ON v.deliberation_id = d.id
                 AND v.vote = 'APPROVE_WITH_CAVEAT' AND v.agency IN ({marks})
            JOIN tasks t ON t.id = d.task_id ORDER BY t.created_at DESC, t.id, v.id""",
        (since, *agencies),
    )
    return [Caveat(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows]


async def findings_of(db: Database, task_ids: Sequence[str]) -> list[Finding]:
    """The evaluator's findings on these tasks, every iteration's, in the order they were recorded."""
    found: list[Finding] = []
    ids = sorted(set(task_ids))
    for start in range(0, len(ids), 500):  # within SQLite's limit on parameters
        chunk = ids[start : start + 500]
        rows = await db.fetchall(
            f"""SELECT task_id, severity, dimension, description, fix FROM findings
                WHERE task_id IN ({",".join("?" * len(chunk))}) ORDER BY task_id, id""",
            chunk,
        )
        found += [Finding(*_row(r)) for r in rows]
    return found


def _row(r: Any) -> tuple[Any, ...]:
    return tuple(r)
