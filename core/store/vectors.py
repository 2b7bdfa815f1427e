"""The vector index: a sqlite-vec ``vec0`` table derived from the stored embeddings.

This Python's sqlite3 cannot load extensions, so the index has a connection of its own, through
sqlean.py (SQLite built with extension loading), to the same database file. The main connection
(core.store.db) never touches the index, so everything else works the same whether or not the
extension loads. When it cannot, ``available`` is False, ``reason`` says why, and recall computes
exact cosine in Python over the stored embeddings instead (core.memory.search).

The table is partitioned by scope key, so a recall reads only the partitions its task may see, and
its rowids are the memories' ``seq``. It can be dropped and rebuilt from the stored embeddings at any time
(core.memory.memory.Memory.reindex).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

log = logging.getLogger(__name__)

TABLE = "memory_vectors"
# Vectors per stored chunk. sqlite-vec allocates a whole chunk for each partition, so small chunks
# keep a scope with a handful of memories from costing the default 1024 x 1.5 KB.
CHUNK_SIZE = 128
_DIMENSION = re.compile(r"float\[(\d+)\]")

T = TypeVar("T")


def extension_path() -> str:
    """The sqlite-vec loadable file of the ``sqlite-vec`` package, found without importing the package
    (its ``__init__`` imports numpy, 90 ms that ``openkoi status`` does not need)."""
    spec = importlib.util.find_spec("sqlite_vec")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the sqlite-vec package is not installed")
    return str(Path(next(iter(spec.submodule_search_locations))) / "vec0")


def load_extension(conn: Any) -> None:
    """Load sqlite-vec into a sqlean connection. Raises if it cannot load."""
    conn.enable_load_extension(True)
    try:
        conn.load_extension(extension_path())
    finally:
        conn.enable_load_extension(False)  # nothing else may load code through this connection


def _connect(path: Path) -> Any:
    import sqlean

    conn = sqlean.connect(str(path), isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA busy_timeout=5000")
        load_extension(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def probe() -> str:
    """Load sqlite-vec into a throwaway in-memory database: its version, or raise why it cannot load."""
    import sqlean

    conn = sqlean.connect(":memory:")
    try:
        load_extension(conn)
        return str(conn.execute("SELECT vec_version()").fetchone()[0])
    finally:
        conn.close()


class VectorIndex:
    """Opened on first use (``open``); ``close`` is called by the Store."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: aiosqlite.Connection | None = None
        self._opened = False
        self._open_lock = asyncio.Lock()
        self.available = False
        self.version: str | None = None
        self.reason = "not opened"

    async def open(self, enabled: bool = True) -> bool:
        """Try once to load sqlite-vec (``enabled=False``: the exact path was asked for). True if in use."""
        async with self._open_lock:
            if self._opened:
                return self.available
            self._opened = True
            if not enabled:
                self.reason = 'exact search was asked for ([memory] index = "exact")'
                return False
            try:
                conn = aiosqlite.Connection(lambda: _connect(self.path), iter_chunk_size=64)
                self._conn = await conn
            except Exception as exc:  # ImportError, or the SQLite error that refused the extension
                self._conn = None
                self.reason = f"sqlite-vec did not load: {type(exc).__name__}: {exc}"
                log.warning("vector index unavailable, recall uses exact cosine: %s", self.reason)
                return False
            self.version = await self._run(lambda c: str(c.execute("SELECT vec_version()").fetchone()[0]))
            self.available = True
            self.reason = ""
            return True

    @property
    def description(self) -> str:
        if self.available:
            return f"sqlite-vec {self.version}"
        return f"exact cosine in Python ({self.reason})"

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
        self.available = False
        self._opened = False

    async def _run(self, work: Callable[[Any], T]) -> T:
        """``work`` on the index connection's thread, in one hop (and one transaction if it writes)."""
        if self._conn is None:
            raise RuntimeError("the vector index is not available")
        raw = self._conn._conn
        result: T = await self._conn._execute(work, raw)  # type: ignore[no-untyped-call]
        return result

    async def dimension(self) -> int | None:
        """The dimension the index was built for, or None if there is no index yet."""
        return await self._run(_dimension)

    async def ensure(self, dimension: int) -> bool:
        """Make sure the index exists for vectors of ``dimension``; True if it had to be (re)created
        empty, in which case the caller fills it."""

        def work(conn: Any) -> bool:
            if _dimension(conn) == dimension:
                return False
            _create(conn, dimension)
            return True

        return await self._run(work)

    async def recreate(self, dimension: int) -> None:
        """An empty index for vectors of ``dimension``, replacing any other."""
        await self._run(lambda conn: _create(conn, dimension))

    async def upsert(self, rows: Sequence[tuple[int, str, bytes]], fresh: bool = False) -> None:
        """Add or replace (seq, scope key, vector) rows, in one transaction (``fresh``: known to be new)."""
        if not rows:
            return

        def work(conn: Any) -> None:
            _write(conn, lambda: _replace(conn, rows, fresh))

        await self._run(work)

    async def delete(self, seqs: Sequence[int]) -> None:
        if not seqs:
            return

        def work(conn: Any) -> None:
            if _dimension(conn) is not None:
                _write(conn, lambda: conn.executemany(f"DELETE FROM {TABLE} WHERE rowid = ?", [(s,) for s in seqs]))

        await self._run(work)

    async def drop(self) -> None:
        await self._run(lambda conn: conn.execute(f"DROP TABLE IF EXISTS {TABLE}"))

    async def search(self, keys: Sequence[str], vector: bytes, k: int) -> list[tuple[int, float]]:
        """The ``k`` nearest (seq, cosine similarity) over the partitions ``keys``, best first."""

        def work(conn: Any) -> list[tuple[int, float]]:
            if _dimension(conn) is None:
                return []
            found: list[tuple[int, float]] = []
            # One KNN per partition: vec0 answers `scope_key IN (…)` with k rows per value, unmerged.
            for key in keys:
                found += [
                    (int(seq), 1.0 - float(distance))
                    for seq, distance in conn.execute(
                        f"SELECT rowid, distance FROM {TABLE} WHERE embedding MATCH ? AND k = ? AND scope_key = ?",
                        (vector, k, key),
                    )
                ]
            found.sort(key=lambda hit: hit[1], reverse=True)
            return found[:k]

        return await self._run(work)

    async def seqs(self) -> set[int]:
        """Every memory the index holds (for reconciling it with the rows)."""

        def work(conn: Any) -> set[int]:
            if _dimension(conn) is None:
                return set()
            return {int(r[0]) for r in conn.execute(f"SELECT rowid FROM {TABLE}")}

        return await self._run(work)

    async def size(self) -> tuple[int, int]:
        """(vectors, dimension) of the index; (0, 0) when there is none."""

        def work(conn: Any) -> tuple[int, int]:
            dimension = _dimension(conn)
            if dimension is None:
                return 0, 0
            return int(conn.execute(f"SELECT COUNT(*) FROM {TABLE}_rowids").fetchone()[0]), dimension

        return await self._run(work)


def _dimension(conn: Any) -> int | None:
    row = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (TABLE,)).fetchone()
    if row is None:
        return None
    found = _DIMENSION.search(row[0])
    return int(found.group(1)) if found else None


def _create(conn: Any, dimension: int) -> None:
    conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
    conn.execute(
        f"""CREATE VIRTUAL TABLE {TABLE} USING vec0(scope_key TEXT PARTITION KEY,
            embedding float[{dimension}] distance_metric=cosine, chunk_size={CHUNK_SIZE})"""
    )


def _replace(conn: Any, rows: Sequence[tuple[int, str, bytes]], fresh: bool = False) -> None:
    if not fresh:
        # vec0 has no UPSERT, and a row's partition key may have changed (a memory marked global).
        conn.executemany(f"DELETE FROM {TABLE} WHERE rowid = ?", [(seq,) for seq, _, _ in rows])
    conn.executemany(f"INSERT INTO {TABLE} (rowid, scope_key, embedding) VALUES (?, ?, ?)", rows)


def _write(conn: Any, work: Callable[[], object]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        work()
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
