"""The SQLite connection (WAL) and versioned migrations; the only place a connection is opened.

One aiosqlite connection runs its statements on a dedicated thread, so nothing blocking
touches the event loop. Writes that span statements hold ``write_lock`` so concurrent tasks
sharing the connection never interleave inside a transaction.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any, Self, TypeVar

import aiosqlite

from core.errors import AmbiguousId, NotFound
from core.files import FILE_MODE, private_file, tighten

# How long a statement waits for another connection's write lock before SQLite gives up.
BUSY_TIMEOUT_MS = 5000


class StoreBusy(Exception):
    """The database stayed locked (by this process or another) for longer than the caller allowed.
    Nothing was written."""


def is_busy(exc: sqlite3.Error) -> bool:
    """True for SQLITE_BUSY / SQLITE_LOCKED: another connection holds the lock, not a broken database."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "database is locked" in str(exc)


def bundled_migrations() -> list[tuple[int, str]]:
    """Bundled migration scripts as (version, sql), in order. File names start with the version."""
    found = []
    for entry in resources.files("core.store.migrations").iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(found)


T = TypeVar("T")

# The tables whose ids people type (a unique prefix is enough), and what one row of each is called.
_ID_TABLES = {
    "tasks": "task",
    "sessions": "session",
    "deliberations": "deliberation",
    "confirmations": "confirmation",
    "memories": "memory",
}


class Opened:
    """Something opened with ``open`` and released with ``close``, usable as ``async with``: the database
    connection and the store over it."""

    async def open(self) -> Self:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Database(Opened):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: aiosqlite.Connection | None = None
        self.write_lock = asyncio.Lock()

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("database is not open")
        return self._conn

    async def open(self) -> Self:
        # Every task, output and Slack response_url lives here: owner-only (0700 directory, 0600
        # files). SQLite gives its -wal and -shm files the database file's mode, so creating the
        # database 0600 before SQLite does keeps them private too; older ones are tightened.
        private_file(self.path)
        for suffix in ("-wal", "-shm", "-journal"):
            tighten(self.path.with_name(self.path.name + suffix), FILE_MODE)
        # Autocommit mode: transactions are explicit (see ``transaction``).
        self._conn = await aiosqlite.connect(self.path, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        await self._conn.execute("PRAGMA journal_mode=WAL")
        await self._conn.execute("PRAGMA foreign_keys=ON")
        await self._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        await self._conn.execute("PRAGMA synchronous=NORMAL")
        await self.migrate()
        return self

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def schema_version(self) -> int:
        row = await self.fetchone("PRAGMA user_version")
        return int(row[0]) if row else 0

    async def migrate(self) -> None:
        """Apply every bundled migration not applied yet, in version order, each in its own transaction.

        Applied versions are listed in ``schema_migrations``, not only implied by ``user_version``:
        branches number their migrations independently, so a database may have met 0005 before 0004
        existed. A gap is accepted, and filled when its script arrives instead of being skipped for
        being older than ``user_version``. A database from before that list counts every bundled
        version up to its ``user_version`` as applied. ``user_version`` stays the highest applied.
        """
        async with self.write_lock:
            await self.conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
        applied = {int(row[0]) for row in await self.fetchall("SELECT version FROM schema_migrations")}
        current = await self.schema_version()
        bundled = bundled_migrations()
        if not applied and current:
            applied = {version for version, _ in bundled if version <= current}
            await self.executemany(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, 'before the migration list')",
                [(version,) for version in sorted(applied)],
            )
        for version, sql in bundled:
            if version in applied:
                continue
            current = max(current, version)
            record = f"INSERT INTO schema_migrations (version, applied_at) VALUES ({version}, datetime('now'));"
            async with self.write_lock:
                # executescript commits first; the script, its record and the version bump run together.
                await self.conn.executescript(f"BEGIN;\n{sql}\n{record}\nPRAGMA user_version={current};\nCOMMIT;")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self.write_lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            await self.conn.execute("COMMIT")

    async def run_batch(self, work: Callable[[sqlite3.Connection], T], wait: float | None = None) -> T:
        """Run ``work`` on the connection's own thread in a single hop, holding the write lock.

        For group commits: a statement-by-statement transaction costs one round trip to the
        SQLite thread per statement, and under load each round trip waits for a turn of the busy
        event loop. ``work`` runs synchronously and must manage its own transaction
        (BEGIN IMMEDIATE … COMMIT, ROLLBACK on error). aiosqlite has no public API for this; its
        ``_execute`` (the primitive every aiosqlite call uses) is covered by tests/core/store/test_store.py.

        ``wait`` bounds, in seconds, how long this may wait for the lock, ours and then SQLite's
        (another connection or process writing): past it, ``StoreBusy`` is raised and nothing
        was written. None waits as long as any other statement does.
        """
        if wait is None:
            async with self.write_lock:
                return await self._on_thread(work)
        started = asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout(max(wait, 0.0)):  # not wait_for: it can swallow a cancellation
                await self.write_lock.acquire()
        except TimeoutError:
            raise StoreBusy(f"the database was busy for over {wait:.1f}s") from None
        try:
            left = wait - (asyncio.get_running_loop().time() - started)
            return await self._on_thread(_bounded(work, left))
        finally:
            self.write_lock.release()

    async def read_batch(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run read-only ``work`` on the connection's own thread in a single hop (no write lock): for
        reads of many statements or rows that should not cost one hop, or one loop turn, each."""
        return await self._on_thread(work)

    async def _on_thread(self, work: Callable[[sqlite3.Connection], T]) -> T:
        raw: sqlite3.Connection = self.conn._conn
        result: T = await self.conn._execute(work, raw)  # type: ignore[no-untyped-call]
        return result

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one write statement; returns the number of changed rows."""
        async with self.write_lock:
            cursor = await self.conn.execute(sql, params)
            return cursor.rowcount

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self.transaction() as conn:
            await conn.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """All rows of a query, read in one hop to the SQLite thread.

        One hop matters: the connection is shared, and a write run between a statement's first step
        and the rest of its rows (two hops: execute, then fetch) changes the table under a scan in
        progress, which SQLite allows to return a row twice or miss it (a task moving from queued to
        running was counted in both)."""
        return list(await self.conn.execute_fetchall(sql, params))

    async def resolve_id(self, table: str, prefix: str) -> str:
        """Expand a unique id prefix for ``table``; raises NotFound or AmbiguousId."""
        thing = _ID_TABLES.get(table)
        if thing is None:
            raise ValueError(table)
        cleaned = prefix.strip().lower()
        if not cleaned or any(c not in "0123456789abcdef" for c in cleaned):
            raise NotFound(f"no {thing} with id '{prefix}'")
        rows = await self.fetchall(f"SELECT id FROM {table} WHERE id LIKE ? LIMIT 6", (cleaned + "%",))
        if not rows:
            raise NotFound(f"no {thing} with id '{prefix}'")
        ids = [r["id"] for r in rows]
        if cleaned in ids:
            return cleaned
        if len(ids) > 1:
            raise AmbiguousId(prefix, ids)
        return str(ids[0])


class Repository:
    """The queries of one stored concept, over the process's one ``Database`` (its connection and write lock)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def one(self, sql: str, params: Sequence[Any], missing: str) -> sqlite3.Row:
        """The query's first row; NotFound saying ``missing`` (e.g. "no task with id '…'") when it has none."""
        row = await self.db.fetchone(sql, params)
        if row is None:
            raise NotFound(missing)
        return row


def _bounded(work: Callable[[sqlite3.Connection], T], seconds: float) -> Callable[[sqlite3.Connection], T]:
    """``work`` with SQLite's busy wait cut to ``seconds``; a lock still held after that is ``StoreBusy``.

    The connection is used by one thread and one call at a time, so changing its busy timeout for
    the length of ``work`` affects nothing else."""

    def bounded(conn: sqlite3.Connection) -> T:
        conn.execute(f"PRAGMA busy_timeout={max(int(seconds * 1000), 0)}")
        try:
            return work(conn)
        except sqlite3.OperationalError as exc:
            if is_busy(exc):
                raise StoreBusy(f"the database was locked for over {seconds:.1f}s") from exc
            raise
        finally:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    return bounded
