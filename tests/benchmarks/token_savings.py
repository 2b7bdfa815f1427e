"""Prompt tokens the engine sends on iterations 2–3 of a code task, against a naive full-history baseline.

Scenario: one ``code-review`` task, three PEER iterations against a local fake model on 127.0.0.1.
The executor's first output is ``CODE`` below (a ~250-line Python module, > 8,000 characters). Each
evaluation reports one correctness bug with an exact one-line quote; the following refinement
fixes that line with a single find/replace edit. Scores are scripted to 0.5 → 0.58 → 0.66, so the
loop runs to its three-iteration limit.

Measured calls (iterations 2 and 3 only): the two executor refinement calls (``Revision``) and the
evaluator calls of iterations 2 and 3 (``Evaluation`` #2 and #3). Iteration 1 is identical in both
approaches and left out.

Counting, identical for both sides: ``tests.fakes.model_server.estimate_tokens`` (characters / 4)
of the prompt text — every message's content joined by newlines, exactly what the fake server
reports as ``usage.prompt_tokens``. ``response_format`` schemas are not counted on either side (the
baseline would send the same ones). Repair retries are not counted: the run asserts there were none.

ours: the prompts the engine actually sent, as recorded by the fake server.

naive: for each of those same four calls, a prompt that carries the whole history:
  * refinement at iteration k: the engine's own refinement system prompt + the task + the context
    the engine gives the executor (directive, caveats, plan) + every earlier output (1 … k−1) in
    full + every earlier evaluation in full (the merged ``Evaluation`` JSON the engine stored for
    that iteration: all dimensions, all findings) + a one-line request to revise the latest output.
    (The current findings are not repeated: they are in the latest evaluation's JSON.)
  * evaluation at iteration k: the engine's own *full* first-iteration evaluation prompt (system,
    task, directive, the complete rubric) with iteration k's output in full in place of the first
    output + every earlier output (1 … k−1) in full + every earlier evaluation's JSON.
Nothing is invented for the baseline: every piece is text the engine itself produced or sent.

savings_pct = 100 × (1 − ours / naive).

    python -m tests.benchmarks.token_savings [--tiny]

The scenario is one task already, so ``--tiny`` (what the default test suite's smoke test passes,
as to every benchmark) runs it unchanged.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from tests.benchmarks._common import check, emit, engine_on, forbid_network
from tests.fakes.model_server import FakeModelServer, Reply, estimate_tokens, json_reply, prompt_text
from tests.fakes.scripts import directive, learnings, parliament, plan, requested_dimensions

TASK = (
    "Write a persistent job queue module for our worker service: SQLite-backed, with priorities, "
    "retries with backoff, leases that expire, and a small CLI for inspection."
)
# Threshold 0.8, improvement 0.05: continue to the iteration limit. Reachable in whole points:
# correctness re-scored at 5, 7, 9 of 10 while the others stay at 5 gives 0.50, 0.58, 0.66.
TARGETS = (0.5, 0.58, 0.66)
WEIGHT = 0.40  # code-review's correctness weight; the other dimensions stay at 0.5

# (line with the bug, its fixed version, what is wrong) — one per evaluation.
ISSUES = (
    (
        "            if job.attempts > self.max_attempts:",
        "            if job.attempts >= self.max_attempts:",
        "off by one: a job is retried once more than max_attempts allows",
    ),
    (
        "    return datetime.now() + timedelta(seconds=seconds)",
        "    return datetime.now(timezone.utc) + timedelta(seconds=seconds)",
        "naive local time is compared with the UTC timestamps stored in the table",
    ),
    (
        "        rows.sort(key=lambda row: row.priority)",
        "        rows.sort(key=lambda row: row.priority, reverse=True)",
        "the listing shows the lowest priority first, the opposite of claim order",
    ),
)

CODE = '''"""A persistent job queue backed by SQLite.

Jobs have a priority, a payload (JSON), a number of attempts and an optional lease. A worker
claims the highest-priority runnable job, holds a lease while it works, and either completes
it or fails it; failed jobs are retried with exponential backoff until max_attempts is reached.
"""

from __future__ import annotations

import argparse
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'ready',
    attempts INTEGER NOT NULL DEFAULT 0,
    run_after TEXT NOT NULL,
    leased_until TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_claim ON jobs(queue, status, priority DESC, run_after);
"""

DEFAULT_LEASE_SECONDS = 60
BASE_BACKOFF_SECONDS = 2.0
MAX_BACKOFF_SECONDS = 300.0


class QueueError(Exception):
    """Raised for misuse of the queue: unknown jobs, completing a job one does not hold."""


@dataclass
class Job:
    id: int
    queue: str
    priority: int
    payload: dict[str, Any]
    status: str
    attempts: int
    run_after: datetime
    leased_until: datetime | None = None
    last_error: str | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        return cls(
            id=row["id"],
            queue=row["queue"],
            priority=row["priority"],
            payload=json.loads(row["payload"]),
            status=row["status"],
            attempts=row["attempts"],
            run_after=datetime.fromisoformat(row["run_after"]),
            leased_until=datetime.fromisoformat(row["leased_until"]) if row["leased_until"] else None,
            last_error=row["last_error"],
        )


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def lease_deadline(seconds: int) -> datetime:
    return datetime.now() + timedelta(seconds=seconds)


def backoff(attempts: int) -> float:
    """Seconds to wait before the next attempt: 2, 4, 8 … capped at MAX_BACKOFF_SECONDS."""
    return min(MAX_BACKOFF_SECONDS, BASE_BACKOFF_SECONDS * (2 ** max(0, attempts - 1)))


@dataclass
class JobQueue:
    path: Path
    queue: str = "default"
    max_attempts: int = 5
    lease_seconds: int = DEFAULT_LEASE_SECONDS
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _conn: sqlite3.Connection | None = None

    def open(self) -> JobQueue:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(SCHEMA)
        return self

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise QueueError("the queue is not open")
        return self._conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def put(self, payload: dict[str, Any], priority: int = 0, delay: float = 0.0) -> int:
        """Add a job; it becomes runnable after ``delay`` seconds."""
        run_after = utcnow() + timedelta(seconds=delay)
        with self.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO jobs (queue, priority, payload, run_after, created_at) VALUES (?, ?, ?, ?, ?)",
                (self.queue, priority, json.dumps(payload), run_after.isoformat(), utcnow().isoformat()),
            )
        job_id = int(cursor.lastrowid or 0)
        log.debug("queued job %s on %s (priority %s)", job_id, self.queue, priority)
        return job_id

    def claim(self) -> Job | None:
        """Lease the highest-priority runnable job, or return None when there is none."""
        now = utcnow().isoformat()
        with self.transaction() as conn:
            row = conn.execute(
                """SELECT * FROM jobs
                   WHERE queue = ? AND run_after <= ?
                     AND (status = 'ready' OR (status = 'leased' AND leased_until < ?))
                   ORDER BY priority DESC, run_after, id LIMIT 1""",
                (self.queue, now, now),
            ).fetchone()
            if row is None:
                return None
            deadline = lease_deadline(self.lease_seconds)
            conn.execute(
                "UPDATE jobs SET status = 'leased', leased_until = ?, attempts = attempts + 1 WHERE id = ?",
                (deadline.isoformat(), row["id"]),
            )
        job = Job.from_row(row)
        job.status, job.leased_until, job.attempts = "leased", deadline, job.attempts + 1
        return job

    def complete(self, job: Job) -> None:
        with self.transaction() as conn:
            changed = conn.execute(
                "DELETE FROM jobs WHERE id = ? AND status = 'leased'", (job.id,)
            ).rowcount
        if not changed:
            raise QueueError(f"job {job.id} is not leased; was its lease lost?")

    def fail(self, job: Job, error: str) -> bool:
        """Record a failure. Returns True if the job will be retried, False if it is dead."""
        with self.transaction() as conn:
            if job.attempts > self.max_attempts:
                conn.execute(
                    "UPDATE jobs SET status = 'dead', leased_until = NULL, last_error = ? WHERE id = ?",
                    (error[:2000], job.id),
                )
                log.warning("job %s is dead after %s attempts: %s", job.id, job.attempts, error)
                return False
            retry_at = utcnow() + timedelta(seconds=backoff(job.attempts))
            conn.execute(
                """UPDATE jobs SET status = 'ready', leased_until = NULL, last_error = ?, run_after = ?
                   WHERE id = ?""",
                (error[:2000], retry_at.isoformat(), job.id),
            )
        return True

    def extend(self, job: Job, seconds: int | None = None) -> datetime:
        """Extend a held lease, for jobs that run longer than expected."""
        deadline = lease_deadline(seconds or self.lease_seconds)
        with self.transaction() as conn:
            changed = conn.execute(
                "UPDATE jobs SET leased_until = ? WHERE id = ? AND status = 'leased'",
                (deadline.isoformat(), job.id),
            ).rowcount
        if not changed:
            raise QueueError(f"job {job.id} is not leased")
        job.leased_until = deadline
        return deadline

    def pending(self, limit: int = 50) -> list[Job]:
        """Jobs that are ready or leased, highest priority first."""
        rows = [
            Job.from_row(r)
            for r in self.conn.execute(
                "SELECT * FROM jobs WHERE queue = ? AND status IN ('ready', 'leased') LIMIT ?",
                (self.queue, limit),
            )
        ]
        rows.sort(key=lambda row: row.priority)
        return rows

    def dead(self, limit: int = 50) -> list[Job]:
        cursor = self.conn.execute(
            "SELECT * FROM jobs WHERE queue = ? AND status = 'dead' ORDER BY id DESC LIMIT ?",
            (self.queue, limit),
        )
        return [Job.from_row(r) for r in cursor]

    def requeue_dead(self) -> int:
        """Give every dead job a fresh set of attempts."""
        with self.transaction() as conn:
            return conn.execute(
                """UPDATE jobs SET status = 'ready', attempts = 0, last_error = NULL, run_after = ?
                   WHERE queue = ? AND status = 'dead'""",
                (utcnow().isoformat(), self.queue),
            ).rowcount

    def stats(self) -> dict[str, int]:
        counts = {"ready": 0, "leased": 0, "dead": 0}
        for row in self.conn.execute(
            "SELECT status, COUNT(*) AS n FROM jobs WHERE queue = ? GROUP BY status", (self.queue,)
        ):
            counts[row["status"]] = row["n"]
        return counts


def work(queue: JobQueue, handler: Any, idle_sleep: float = 1.0, stop: threading.Event | None = None) -> None:
    """Run jobs until ``stop`` is set: claim, handle, then complete or fail."""
    stop = stop or threading.Event()
    while not stop.is_set():
        job = queue.claim()
        if job is None:
            stop.wait(idle_sleep)
            continue
        try:
            handler(job.payload)
        except Exception as exc:
            retried = queue.fail(job, f"{type(exc).__name__}: {exc}")
            log.info("job %s failed (%s); retried: %s", job.id, exc, retried)
        else:
            queue.complete(job)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jobqueue", description="Inspect a job queue.")
    parser.add_argument("database", type=Path)
    parser.add_argument("--queue", default="default")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("stats", help="Count jobs by status.")
    listing = sub.add_parser("pending", help="List ready and leased jobs.")
    listing.add_argument("-n", "--limit", type=int, default=20)
    sub.add_parser("dead", help="List dead jobs with their last error.")
    sub.add_parser("requeue", help="Retry every dead job from scratch.")
    args = parser.parse_args(argv)
    queue = JobQueue(args.database, args.queue).open()
    try:
        if args.command == "stats":
            for status, count in queue.stats().items():
                print(f"{status:8s} {count}")
        elif args.command == "pending":
            for job in queue.pending(args.limit):
                print(f"{job.id:6d}  p{job.priority:<3d} {job.status:7s} tries {job.attempts}  {job.payload}")
        elif args.command == "dead":
            for job in queue.dead():
                print(f"{job.id:6d}  tries {job.attempts}  {job.last_error}")
        else:
            print(f"requeued {queue.requeue_dead()} jobs")
    finally:
        queue.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())'''

# One call each, no repair retries: iteration 1, then (refine, evaluate) for iterations 2 and 3.
EXPECTED_CALLS = ["Directive", "ParliamentReply", "Plan", "execute", "Evaluation"]
EXPECTED_CALLS += ["Revision", "Evaluation", "Revision", "Evaluation", "Learnings"]

REFINE_REQUEST = "Revise your latest output to resolve the findings of the latest evaluation."


class Script:
    """Stateful replies for the single task: evaluation n reports ISSUES[n]; refinement n fixes it."""

    def __init__(self) -> None:
        self.evaluations = 0
        self.revisions = 0

    def evaluate(self, body: dict[str, Any]) -> Reply:
        n = self.evaluations
        self.evaluations += 1
        dims = requested_dimensions(body)
        if n == 0:
            scores = dict.fromkeys(dims, round(10 * TARGETS[0]))
        else:  # incremental: only correctness (the dimension with findings) is re-scored, in whole points
            points = 10 * (0.5 + (TARGETS[n] - 0.5) / WEIGHT)
            check(abs(points - round(points)) < 1e-6, f"evaluation {n + 1}: {points} is not a whole point")
            scores = {"correctness": round(points)}
        check(set(scores) == set(dims), f"evaluation {n + 1} asked for {dims}")
        line, fixed, problem = ISSUES[n]
        finding = {
            "severity": "major",
            "dimension": "correctness",
            "description": problem,
            "fix": f"change the line to: {fixed.strip()}",
            "quote": line.strip(),
        }
        return json_reply(
            {
                "dimensions": {d: {"score": s, "rationale": "scripted"} for d, s in scores.items()},
                "findings": [finding],
                "needs_human": False,
                "needs_human_reason": None,
                "summary": f"one correctness problem: {problem}",
            }
        )

    def revise(self, body: dict[str, Any]) -> Reply:
        n = self.revisions
        self.revisions += 1
        line, fixed, _ = ISSUES[n]
        check(line in prompt_text(body), f"refinement {n + 1} was not shown the quoted line")
        return json_reply({"edits": [{"find": line, "replace": fixed}], "notes": "fixed the reported line"})


def install(server: FakeModelServer, script: Script) -> None:
    s = server.script
    s.default("Directive", directive())
    s.default("ParliamentReply", parliament())
    s.default("Plan", plan("code-review"))
    s.default("execute", Reply(content=CODE))
    s.default("Evaluation", script.evaluate)
    s.default("Revision", script.revise)
    s.default("Learnings", learnings())


def tokens(text: str) -> int:
    return estimate_tokens(text)


def history(outputs: list[str], evaluations: list[str], upto: int) -> list[str]:
    """Every earlier output in full and every earlier evaluation's JSON, iterations 1 … upto."""
    parts: list[str] = []
    for n in range(upto):
        parts.append(f"## Output of iteration {n + 1}\n{outputs[n]}")
        parts.append(f"## Evaluation of iteration {n + 1}\n{evaluations[n]}")
    return parts


async def run() -> dict[str, Any]:
    """Run the task and count both sides (see the module docstring)."""
    from core.loop.executor import REFINE_SYSTEM
    from core.models import LoopDecision, TaskStatus

    script = Script()
    async with FakeModelServer() as server, engine_on(server.url, "openkoi-bench-tokens-") as harness:
        install(server, script)
        task = await harness.engine.submit(TASK)
        done = await harness.engine.run(task.id)
        cycles = await harness.engine.store.cycles.for_task(task.id)
        check(not harness.notices, f"notices: {harness.notices[:3]}")
    check(
        done.status is TaskStatus.BELOW_BAR and done.decision is LoopDecision.ACCEPT_BEST, f"{done.status} {done.error}"
    )
    check([c.score for c in cycles] == list(TARGETS), f"scores {[c.score for c in cycles]}")
    check(server.kinds() == EXPECTED_CALLS, f"unexpected calls {server.kinds()}")
    check(len(CODE) >= 8000 and tokens(CODE) >= 2000, "the first output is too small")
    outputs = [c.output for c in cycles]
    evaluations = [str(c.evaluation_json) for c in cycles]
    check(outputs[0] == CODE, "the first output is not the scripted code")
    for n in (1, 2):
        check(ISSUES[n - 1][1] in outputs[n] and ISSUES[n - 1][0] not in outputs[n], f"revision {n} not applied")
    check(all(c.incremental for c in cycles[1:]), "iterations 2-3 were not evaluated incrementally")

    executions = server.requests_of("execute")
    revisions = server.requests_of("Revision")
    evals = server.requests_of("Evaluation")
    user = str(executions[0]["messages"][1]["content"])
    prefix = f"## Task\n{TASK}\n\n## Context\n"
    check(user.startswith(prefix), "the execute prompt has an unexpected layout")
    context = user[len(prefix) :]
    first_eval = prompt_text(evals[0])
    check(first_eval.count(CODE) == 1, "the first evaluation prompt does not hold the output exactly once")

    ours = 0
    naive = 0
    for k in (2, 3):  # iteration k: refinement k-1 produced output k, then evaluation k scored it
        refine_body, eval_body = revisions[k - 2], evals[k - 1]
        ours += tokens(prompt_text(refine_body)) + tokens(prompt_text(eval_body))
        naive_refine = [REFINE_SYSTEM, f"## Task\n{TASK}", f"## Context\n{context}"]
        naive_refine += [*history(outputs, evaluations, k - 1), REFINE_REQUEST]
        naive_eval = [first_eval.replace(CODE, outputs[k - 1]), *history(outputs, evaluations, k - 1)]
        naive += tokens("\n\n".join(naive_refine)) + tokens("\n\n".join(naive_eval))
    check(len(revisions) == 2 and len(evals) == 3, "expected two refinements and three evaluations")
    return {
        "bench": "token_savings",
        "naive_tokens": naive,
        "ours_tokens": ours,
        "savings_pct": round(100 * (1 - ours / naive), 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tiny", action="store_true", help="the same single task (it is tiny already)")
    parser.parse_args(argv)
    forbid_network()
    emit(asyncio.run(run()))


if __name__ == "__main__":
    main()
