"""The scheduler's records: the lease that makes one process the scheduler, every job run keyed by the
cron fire time it is for, and runs requested by ``openkoi schedule run`` from another process.

Every decision that two processes could race on is one statement: taking the lease is a single
upsert that only succeeds when the lease is free, expired or already ours; claiming a run is an
INSERT that does nothing when a row for (job, fire time) exists; taking a request is one UPDATE.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from core.store.db import Repository
from core.store.rows import from_row
from core.text import one_line

RunTrigger = Literal["schedule", "catch-up", "manual"]
RunStatus = Literal["running", "ok", "failed", "missed"]
RequestStatus = Literal["pending", "taken", "ok", "failed", "cancelled"]
DETAIL_CHARS = 300


def run_detail(text: str) -> str:
    """A job run's detail as it is stored: one line of at most ``DETAIL_CHARS`` characters."""
    return one_line(text, DETAIL_CHARS)


def iso(moment: datetime) -> str:
    """How the scheduler's times are stored: UTC, always with microseconds, so text order is time order."""
    if moment.tzinfo is None:
        raise ValueError("the scheduler stores aware datetimes only")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class LeaseHolder:
    owner: str
    acquired_at: datetime
    heartbeat_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class RunRecord:
    job: str
    fire_time: datetime
    trigger: RunTrigger
    status: RunStatus
    started_at: datetime | None
    finished_at: datetime | None
    detail: str
    owner: str | None


@dataclass(frozen=True)
class JobRequest:
    id: int
    job: str
    requested_by: str
    requested_at: datetime
    status: RequestStatus
    taken_by: str | None
    fire_time: datetime | None
    detail: str


def _run(row: sqlite3.Row) -> RunRecord:
    return from_row(RunRecord, row)


def _request(row: sqlite3.Row) -> JobRequest:
    return from_row(JobRequest, row, id=int)


class ScheduleRepository(Repository):
    # The lease ----------------------------------------------------------------------------------

    async def acquire(self, owner: str, ttl: timedelta, now: datetime) -> bool:
        """Take or extend the lease until ``now + ttl``; True when ``owner`` holds it afterwards.

        One statement: it succeeds only when there is no lease, it has expired, or ``owner`` holds it,
        so two processes racing can never both win."""
        changed = await self.db.execute(
            """
            INSERT INTO schedule_lease (id, owner, acquired_at, heartbeat_at, expires_at) VALUES (1, ?, ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET
                acquired_at = CASE WHEN schedule_lease.owner = excluded.owner
                                   THEN schedule_lease.acquired_at ELSE excluded.acquired_at END,
                owner = excluded.owner,
                heartbeat_at = excluded.heartbeat_at,
                expires_at = excluded.expires_at
            WHERE schedule_lease.owner = excluded.owner OR schedule_lease.expires_at <= excluded.heartbeat_at
            """,
            (owner, iso(now), iso(now), iso(now + ttl)),
        )
        return changed == 1

    async def renew(self, owner: str, ttl: timedelta, now: datetime) -> bool:
        """Extend the lease ``owner`` holds; False when it holds it no more (another process took it over)."""
        changed = await self.db.execute(
            "UPDATE schedule_lease SET heartbeat_at = ?, expires_at = ? WHERE id = 1 AND owner = ?",
            (iso(now), iso(now + ttl), owner),
        )
        return changed == 1

    async def since(self, now: datetime) -> datetime:
        """When this database's schedule first ran: ``now`` the first time it is asked, then that."""
        await self.db.execute("INSERT OR IGNORE INTO schedule_since (id, since) VALUES (1, ?)", (iso(now),))
        row = await self.db.fetchone("SELECT since FROM schedule_since WHERE id = 1")
        return datetime.fromisoformat(row["since"]) if row else now

    async def release(self, owner: str) -> bool:
        """Give the lease up, if ``owner`` holds it, so another process may take it at once."""
        return await self.db.execute("DELETE FROM schedule_lease WHERE id = 1 AND owner = ?", (owner,)) == 1

    async def holder(self, now: datetime) -> LeaseHolder | None:
        """Who holds the lease at ``now``; None when nobody does (never taken, released or expired)."""
        row = await self.db.fetchone("SELECT * FROM schedule_lease WHERE id = 1 AND expires_at > ?", (iso(now),))
        if row is None:
            return None
        return from_row(LeaseHolder, row)

    # Runs ---------------------------------------------------------------------------------------

    async def claim(self, job: str, fire_time: datetime, trigger: RunTrigger, owner: str, now: datetime) -> bool:
        """Record that ``job``'s run for ``fire_time`` starts now; False (and nothing written) when a
        run for that fire time was already recorded, by anyone, ever."""
        changed = await self.db.execute(
            "INSERT INTO job_runs (job, fire_time, trigger, status, started_at, owner) VALUES (?, ?, ?, 'running', ?, ?)"
            " ON CONFLICT (job, fire_time) DO NOTHING",
            (job, iso(fire_time), trigger, iso(now), owner),
        )
        return changed == 1

    async def finish(
        self, job: str, fire_time: datetime, status: Literal["ok", "failed"], detail: str, now: datetime
    ) -> None:
        await self.db.execute(
            "UPDATE job_runs SET status = ?, detail = ?, finished_at = ? WHERE job = ? AND fire_time = ?",
            (status, run_detail(detail), iso(now), job, iso(fire_time)),
        )

    async def record_missed(self, job: str, fire_time: datetime, detail: str, now: datetime) -> bool:
        """Record that ``job`` did not run for ``fire_time`` (unless a run for it is already recorded)."""
        changed = await self.db.execute(
            "INSERT INTO job_runs (job, fire_time, trigger, status, finished_at, detail)"
            " VALUES (?, ?, 'schedule', 'missed', ?, ?) ON CONFLICT (job, fire_time) DO NOTHING",
            (job, iso(fire_time), iso(now), run_detail(detail)),
        )
        return changed == 1

    async def run_for(self, job: str, fire_time: datetime) -> RunRecord | None:
        row = await self.db.fetchone("SELECT * FROM job_runs WHERE job = ? AND fire_time = ?", (job, iso(fire_time)))
        return _run(row) if row is not None else None

    async def last_run(self, job: str) -> RunRecord | None:
        """The run for the latest fire time (a manual run's is when it was asked), missed ones included."""
        row = await self.db.fetchone("SELECT * FROM job_runs WHERE job = ? ORDER BY fire_time DESC LIMIT 1", (job,))
        return _run(row) if row is not None else None

    async def runs(self, job: str, limit: int = 20) -> list[RunRecord]:
        rows = await self.db.fetchall(
            "SELECT * FROM job_runs WHERE job = ? ORDER BY fire_time DESC LIMIT ?", (job, limit)
        )
        return [_run(row) for row in rows]

    async def interrupt_running(self, keep_owner: str, now: datetime) -> int:
        """Fail the runs left 'running' by other processes: called by a new lease holder, since only the
        holder runs jobs, a run another process left running was interrupted (a crash, a kill)."""
        return await self.db.execute(
            "UPDATE job_runs SET status = 'failed', finished_at = ?,"
            " detail = 'interrupted: the process running it stopped before it finished'"
            " WHERE status = 'running' AND (owner IS NULL OR owner != ?)",
            (iso(now), keep_owner),
        )

    # Requests from `openkoi schedule run` -------------------------------------------------------

    async def request(self, job: str, requested_by: str, now: datetime) -> int:
        async with self.db.write_lock:
            cursor = await self.db.conn.execute(
                "INSERT INTO job_requests (job, requested_by, requested_at) VALUES (?, ?, ?)",
                (job, requested_by, iso(now)),
            )
            return int(cursor.lastrowid or 0)

    async def take_requests(self, owner: str, limit: int = 10) -> list[JobRequest]:
        """Mark up to ``limit`` pending requests taken by ``owner`` and return them (one statement)."""
        async with self.db.write_lock:
            rows = await self.db.conn.execute_fetchall(
                "UPDATE job_requests SET status = 'taken', taken_by = ? WHERE id IN"
                " (SELECT id FROM job_requests WHERE status = 'pending' ORDER BY id LIMIT ?) RETURNING *",
                (owner, limit),
            )
        return sorted((_request(row) for row in rows), key=lambda r: r.id)

    async def finish_request(
        self, request_id: int, status: Literal["ok", "failed"], detail: str, fire_time: datetime | None
    ) -> None:
        await self.db.execute(
            "UPDATE job_requests SET status = ?, detail = ?, fire_time = ? WHERE id = ?",
            (status, run_detail(detail), iso(fire_time) if fire_time else None, request_id),
        )

    async def cancel_request(self, request_id: int) -> bool:
        """Withdraw a request nobody has taken yet; False when it was taken meanwhile."""
        changed = await self.db.execute(
            "UPDATE job_requests SET status = 'cancelled' WHERE id = ? AND status = 'pending'", (request_id,)
        )
        return changed == 1

    async def get_request(self, request_id: int) -> JobRequest:
        row = await self.one(
            "SELECT * FROM job_requests WHERE id = ?", (request_id,), f"no schedule request {request_id}"
        )
        return _request(row)
