"""The outgoing webhooks' outbox: deliveries waiting to be sent, every attempt made, the endpoints a 410 Gone
disabled, and the signing secrets openkoi generated. What the rows mean (which events, how they are signed, when
a failure is retried) is decided in ``integrations.webhooks``; this module only keeps them.

A delivery is written before any attempt to send it and changes only here: claimed by a sender for a lease
(``claim_due``), then settled with the attempt's outcome (``settle``). A claim whose process died runs out, so
the delivery is due again: at-least-once, and receivers dedupe on the ``webhook-id``.

Timestamps are UTC ISO strings with microseconds, so comparing them as text is comparing them as moments.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from core.errors import AmbiguousId, NotFound
from core.models import new_id, utcnow
from core.store.db import Repository
from core.store.rows import from_row

DeliveryStatus = Literal["pending", "sending", "delivered", "failed", "gone"]
AttemptOutcome = Literal["delivered", "failed", "gone"]
# A delivery that will not be sent again unless a person asks (``redeliver``).
FINISHED: tuple[DeliveryStatus, ...] = ("delivered", "failed", "gone")


def stamp(moment: datetime) -> str:
    """``moment`` as stored: UTC, with microseconds (text order is time order)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class NewDelivery:
    """One event for one endpoint, as the outbox writer makes it."""

    endpoint: str
    event_type: str
    body: str  # the exact JSON sent and signed
    task_id: str | None = None


@dataclass(frozen=True)
class Delivery:
    seq: int
    id: str  # sent as webhook-id: msg_<id>
    endpoint: str
    event_type: str
    task_id: str | None
    body: str
    created_at: datetime
    status: DeliveryStatus
    step: int  # the index in the retry schedule of the next attempt
    attempts: int
    next_attempt_at: datetime
    lease_until: datetime | None
    last_status: int | None
    last_error: str | None
    finished_at: datetime | None

    @property
    def message_id(self) -> str:
        """The ``webhook-id`` header: the same on every attempt, so a receiver can dedupe."""
        return f"msg_{self.id}"


@dataclass(frozen=True)
class DeliveryAttempt:
    delivery_id: str
    attempt: int
    started_at: datetime
    duration_ms: float
    status_code: int | None
    outcome: AttemptOutcome
    error: str | None


@dataclass(frozen=True)
class EndpointState:
    name: str
    url: str
    disabled_at: datetime | None
    disabled_reason: str | None

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None


def _delivery(row: sqlite3.Row) -> Delivery:
    return from_row(Delivery, row)


def _attempt(row: sqlite3.Row) -> DeliveryAttempt:
    return from_row(DeliveryAttempt, row)


def _endpoint(row: sqlite3.Row) -> EndpointState:
    return from_row(EndpointState, row)


def _marks(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))


class WebhookRepository(Repository):
    """Endpoints' state, generated keys, deliveries and their attempts."""

    # Endpoints ---------------------------------------------------------------------------------------

    async def sync_endpoints(self, endpoints: Iterable[tuple[str, str]], now: datetime | None = None) -> None:
        """Record the configured (name, url) pairs. An endpoint whose URL changed is enabled again: the 410
        that disabled it came from the old address."""
        moment = stamp(now or utcnow())
        async with self.db.transaction() as conn:
            for name, url in endpoints:
                await conn.execute(
                    """INSERT INTO webhook_endpoints (name, url, created_at, updated_at) VALUES (?,?,?,?)
                       ON CONFLICT(name) DO UPDATE SET
                           disabled_at = CASE WHEN url = excluded.url THEN disabled_at END,
                           disabled_reason = CASE WHEN url = excluded.url THEN disabled_reason END,
                           updated_at = CASE WHEN url = excluded.url THEN updated_at ELSE excluded.updated_at END,
                           url = excluded.url""",
                    (name, url, moment, moment),
                )

    async def endpoints(self) -> list[EndpointState]:
        """Every endpoint the service has known, by name."""
        return [_endpoint(row) for row in await self.db.fetchall("SELECT * FROM webhook_endpoints ORDER BY name")]

    async def endpoint(self, name: str) -> EndpointState | None:
        row = await self.db.fetchone("SELECT * FROM webhook_endpoints WHERE name = ?", (name,))
        return _endpoint(row) if row else None

    async def disable(self, name: str, reason: str, now: datetime | None = None) -> bool:
        """Disable an enabled endpoint; False when it was already disabled (or unknown)."""
        moment = stamp(now or utcnow())
        changed = await self.db.execute(
            """UPDATE webhook_endpoints SET disabled_at = ?, disabled_reason = ?, updated_at = ?
               WHERE name = ? AND disabled_at IS NULL""",
            (moment, reason, moment, name),
        )
        return changed == 1

    async def enable(self, name: str, now: datetime | None = None) -> bool:
        """Enable a disabled endpoint; False when it was not disabled (or unknown)."""
        changed = await self.db.execute(
            """UPDATE webhook_endpoints SET disabled_at = NULL, disabled_reason = NULL, updated_at = ?
               WHERE name = ? AND disabled_at IS NOT NULL""",
            (stamp(now or utcnow()), name),
        )
        return changed == 1

    # Generated secrets -------------------------------------------------------------------------------

    async def key(self, name: str) -> str | None:
        row = await self.db.fetchone("SELECT secret FROM webhook_keys WHERE name = ?", (name,))
        return str(row["secret"]) if row else None

    async def keep_key(self, name: str, secret: str) -> str:
        """Store ``secret`` under ``name`` unless one is stored already; return the one stored (the first
        writer wins, so two processes starting at once agree)."""
        await self.db.execute(
            "INSERT OR IGNORE INTO webhook_keys (name, secret, created_at) VALUES (?,?,?)",
            (name, secret, stamp(utcnow())),
        )
        stored = await self.key(name)
        assert stored is not None
        return stored

    # Deliveries --------------------------------------------------------------------------------------

    async def enqueue(
        self, deliveries: Sequence[NewDelivery], now: datetime | None = None, first_wait: float = 0.0
    ) -> list[str]:
        """Write deliveries, due ``first_wait`` seconds from ``now``, in one transaction; returns their ids."""
        moment = now or utcnow()
        created, due = stamp(moment), stamp(moment + timedelta(seconds=first_wait))
        ids = [new_id() for _ in deliveries]
        if deliveries:
            await self.db.executemany(
                """INSERT INTO webhook_deliveries (id, endpoint, event_type, task_id, body, created_at, next_attempt_at)
                   VALUES (?,?,?,?,?,?,?)""",
                [(i, d.endpoint, d.event_type, d.task_id, d.body, created, due) for i, d in zip(ids, deliveries, strict=True)],
            )  # fmt: skip
        return ids

    async def claim_due(
        self, endpoints: Sequence[str], limit: int, lease: timedelta, now: datetime | None = None
    ) -> list[Delivery]:
        """Claim up to ``limit`` deliveries to enabled ``endpoints`` that are due at ``now`` (pending, or claimed
        by a sender whose lease ran out), oldest due first, for ``lease``. One statement: of two claimers, each
        delivery goes to one."""
        if not endpoints or limit <= 0:
            return []
        moment = now or utcnow()
        at = stamp(moment)
        async with self.db.write_lock:
            rows = await self.db.conn.execute_fetchall(
                f"""UPDATE webhook_deliveries SET status = 'sending', lease_until = ?
                    WHERE id IN (
                        SELECT d.id FROM webhook_deliveries d
                        JOIN webhook_endpoints e ON e.name = d.endpoint AND e.disabled_at IS NULL
                        WHERE d.endpoint IN ({_marks(endpoints)})
                          AND ((d.status = 'pending' AND d.next_attempt_at <= ?)
                               OR (d.status = 'sending' AND d.lease_until <= ?))
                        ORDER BY d.next_attempt_at, d.seq LIMIT ?)
                    RETURNING *""",
                (stamp(moment + lease), *endpoints, at, at, limit),
            )
        return sorted((_delivery(row) for row in rows), key=lambda d: (d.next_attempt_at, d.seq))

    async def next_due(self, endpoints: Sequence[str]) -> datetime | None:
        """When the earliest delivery to an enabled endpoint of ``endpoints`` falls due (a lease running out
        counts); None when nothing waits."""
        if not endpoints:
            return None
        row = await self.db.fetchone(
            f"""SELECT MIN(CASE d.status WHEN 'pending' THEN d.next_attempt_at ELSE d.lease_until END) AS due
                FROM webhook_deliveries d
                JOIN webhook_endpoints e ON e.name = d.endpoint AND e.disabled_at IS NULL
                WHERE d.endpoint IN ({_marks(endpoints)}) AND d.status IN ('pending', 'sending')""",
            tuple(endpoints),
        )
        return datetime.fromisoformat(row["due"]) if row is not None and row["due"] is not None else None

    async def settle(
        self,
        attempt: DeliveryAttempt,
        *,
        status: DeliveryStatus,
        step: int,
        next_attempt_at: datetime | None = None,
    ) -> None:
        """Keep ``attempt`` and move its delivery on: pending again at ``next_attempt_at`` (at schedule index
        ``step``), or finished (``delivered``, ``failed`` when retries ran out, ``gone`` on a 410)."""
        finished = stamp(attempt.started_at) if status in FINISHED else None
        next_at = stamp(next_attempt_at) if next_attempt_at is not None else None
        async with self.db.transaction() as conn:
            await conn.execute(
                """INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code, outcome, error)
                   VALUES (?,?,?,?,?,?,?)""",
                (attempt.delivery_id, attempt.attempt, stamp(attempt.started_at), attempt.duration_ms,
                 attempt.status_code, attempt.outcome, attempt.error),
            )  # fmt: skip
            await conn.execute(
                """UPDATE webhook_deliveries SET status = ?, step = ?, attempts = ?, lease_until = NULL,
                       next_attempt_at = COALESCE(?, next_attempt_at), last_status = ?, last_error = ?, finished_at = ?
                   WHERE id = ?""",
                (status, step, attempt.attempt, next_at, attempt.status_code, attempt.error, finished,
                 attempt.delivery_id),
            )  # fmt: skip

    async def release_claims(self) -> int:
        """Give back every claim (the service starting: the process that made them is gone, as ``recover`` assumes
        of its running tasks); returns how many. Those deliveries are due at once."""
        return await self.db.execute(
            "UPDATE webhook_deliveries SET status = 'pending', lease_until = NULL WHERE status = 'sending'"
        )

    async def release(self, delivery_id: str) -> None:
        """Give back a claim that made no attempt (the service stopped first): due again at once."""
        await self.db.execute(
            "UPDATE webhook_deliveries SET status = 'pending', lease_until = NULL WHERE id = ? AND status = 'sending'",
            (delivery_id,),
        )

    async def redeliver(self, delivery_id: str, now: datetime | None = None) -> Delivery:
        """Make a delivery due at once, from the start of the retry schedule, whatever became of it; its
        webhook-id and body stay the same. ``NotFound`` / ``AmbiguousId`` for an id that names none / several."""
        found = await self.find(delivery_id)
        await self.db.execute(
            """UPDATE webhook_deliveries SET status = 'pending', step = 0, next_attempt_at = ?, lease_until = NULL,
                   finished_at = NULL WHERE id = ?""",
            (stamp(now or utcnow()), found.id),
        )
        return await self.get(found.id)

    async def get(self, delivery_id: str) -> Delivery:
        row = await self.one(
            "SELECT * FROM webhook_deliveries WHERE id = ?", (delivery_id,), f"no webhook delivery '{delivery_id}'"
        )
        return _delivery(row)

    async def find(self, prefix: str) -> Delivery:
        """The delivery whose id starts with ``prefix`` (``msg_`` in front is allowed, as the header shows it)."""
        cleaned = prefix.strip().lower().removeprefix("msg_")
        if not cleaned or any(c not in "0123456789abcdef" for c in cleaned):
            raise NotFound(f"no webhook delivery '{prefix}'")
        rows = await self.db.fetchall("SELECT * FROM webhook_deliveries WHERE id LIKE ? LIMIT 6", (cleaned + "%",))
        exact = [row for row in rows if row["id"] == cleaned]
        if exact:
            return _delivery(exact[0])
        if not rows:
            raise NotFound(f"no webhook delivery '{prefix}'")
        if len(rows) > 1:
            raise AmbiguousId(prefix, [str(row["id"]) for row in rows])
        return _delivery(rows[0])

    async def recent(self, endpoint: str | None = None, limit: int = 20) -> list[Delivery]:
        """The latest deliveries (of ``endpoint``), newest first."""
        where, params = ("WHERE endpoint = ?", [endpoint]) if endpoint is not None else ("", [])
        rows = await self.db.fetchall(
            f"SELECT * FROM webhook_deliveries {where} ORDER BY seq DESC LIMIT ?", (*params, limit)
        )
        return [_delivery(row) for row in rows]

    async def attempts(self, delivery_ids: Sequence[str]) -> dict[str, list[DeliveryAttempt]]:
        """Each delivery's attempts, oldest first."""
        if not delivery_ids:
            return {}
        rows = await self.db.fetchall(
            f"SELECT * FROM webhook_attempts WHERE delivery_id IN ({_marks(delivery_ids)}) ORDER BY seq",
            tuple(delivery_ids),
        )
        found: dict[str, list[DeliveryAttempt]] = {i: [] for i in delivery_ids}
        for row in rows:
            found[row["delivery_id"]].append(_attempt(row))
        return found

    async def counts(self) -> dict[str, dict[str, int]]:
        """Deliveries by endpoint and status."""
        rows = await self.db.fetchall(
            "SELECT endpoint, status, COUNT(*) AS n FROM webhook_deliveries GROUP BY endpoint, status"
        )
        found: dict[str, dict[str, int]] = {}
        for row in rows:
            found.setdefault(row["endpoint"], {})[row["status"]] = int(row["n"])
        return found

    async def last_attempts(self) -> dict[str, DeliveryAttempt]:
        """Each endpoint's latest attempt."""
        rows = await self.db.fetchall(
            """SELECT d.endpoint AS endpoint, a.* FROM webhook_attempts a
               JOIN webhook_deliveries d ON d.id = a.delivery_id
               WHERE a.seq IN (SELECT MAX(a2.seq) FROM webhook_attempts a2
                               JOIN webhook_deliveries d2 ON d2.id = a2.delivery_id GROUP BY d2.endpoint)"""
        )
        return {str(row["endpoint"]): _attempt(row) for row in rows}

    async def prune(self, before: datetime) -> int:
        """Delete finished deliveries (and their attempts) that finished before ``before``; returns how many."""
        async with self.db.write_lock:
            cursor = await self.db.conn.execute(
                f"DELETE FROM webhook_deliveries WHERE status IN ({_marks(FINISHED)}) AND finished_at < ?",
                (*FINISHED, stamp(before)),
            )
            return cursor.rowcount
