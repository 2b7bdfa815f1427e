"""Memories: the canonical rows (text, kind, confidence, scope, when last used) and their embeddings.

Embeddings are stored as little-endian float32 bytes, apart from the rows, with the name of the
embedder that produced them on the row; the vector index (core.store.vectors) is derived from them
and can always be rebuilt.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.models import GLOBAL_SCOPE, Scope, new_id, utcnow
from core.store.db import Repository
from core.store.rows import from_row

_COLUMNS = """seq, id, kind, text, confidence, reinforcements, scope_key, platform, workspace, team, channel,
              is_global, source_task_id, embedder, created_at, last_used_at"""
_PER_QUERY = 500  # well under SQLite's limit on bound parameters


@dataclass(frozen=True)
class StoredMemory:
    seq: int
    id: str
    kind: str
    text: str
    confidence: float  # as learnt or reinforced; the decayed value is computed when read
    reinforcements: int
    scope_key: str  # where it is recalled: "global" or the scope's own key
    scope: Scope  # where it was learnt
    is_global: bool
    source_task_id: str | None
    embedder: str | None
    created_at: datetime
    last_used_at: datetime


def _memory(row: sqlite3.Row) -> StoredMemory:
    scope = Scope(platform=row["platform"], workspace=row["workspace"], team=row["team"], channel=row["channel"])
    return from_row(StoredMemory, {**dict(row), "scope": scope})


def qualified_columns(alias: str) -> str:
    """The memory columns as ``alias.column``, for a query joining memories with other tables."""
    return ", ".join(f"{alias}.{column.strip()}" for column in _COLUMNS.split(","))


def memory_of(row: sqlite3.Row) -> StoredMemory:
    """A memory from a row holding its columns (``qualified_columns``)."""
    return _memory(row)


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


class MemoryRepository(Repository):
    async def add(
        self,
        kind: str,
        text: str,
        confidence: float,
        scope: Scope,
        task_id: str | None,
        embedding: bytes | None = None,
        embedder: str | None = None,
        now: datetime | None = None,
    ) -> StoredMemory:
        stamp = (now or utcnow()).isoformat()
        memory_id = new_id()
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                """INSERT INTO memories (id, kind, text, confidence, scope_key, platform, workspace, team, channel,
                                         source_task_id, embedder, created_at, last_used_at)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                (memory_id, kind, text, confidence, scope.key, scope.platform, scope.workspace, scope.team,
                 scope.channel, task_id, embedder if embedding is not None else None, stamp, stamp),
            )  # fmt: skip
            if embedding is not None:
                await conn.execute(
                    "INSERT INTO memory_embeddings (seq, vector) VALUES (?, ?)", (cursor.lastrowid, embedding)
                )
        return await self.get(memory_id)

    async def reinforce(self, seq: int, confidence: float, now: datetime | None = None) -> None:
        """Count one more sighting: the higher confidence is kept and the memory counts as just used."""
        await self.db.execute(
            """UPDATE memories SET reinforcements = reinforcements + 1, last_used_at = ?,
                      confidence = MIN(1.0, MAX(confidence, ?)) WHERE seq = ?""",
            ((now or utcnow()).isoformat(), confidence, seq),
        )

    async def get(self, memory_id: str) -> StoredMemory:
        row = await self.one(
            f"SELECT {_COLUMNS} FROM memories WHERE id = ?", (memory_id,), f"no memory with id '{memory_id}'"
        )
        return _memory(row)

    async def resolve(self, prefix: str) -> str:
        """Expand a unique id prefix; raises NotFound or AmbiguousId."""
        return await self.db.resolve_id("memories", prefix)

    async def by_seqs(self, seqs: Sequence[int]) -> list[StoredMemory]:
        found: list[StoredMemory] = []
        for start in range(0, len(seqs), _PER_QUERY):
            part = list(seqs[start : start + _PER_QUERY])
            rows = await self.db.fetchall(f"SELECT {_COLUMNS} FROM memories WHERE seq IN ({_marks(part)})", part)
            found += [_memory(r) for r in rows]
        return found

    async def listing(
        self, kind: str | None = None, scope_key: str | None = None, limit: int = 50
    ) -> list[StoredMemory]:
        """Most recently used first."""
        where, params = [], []
        if kind:
            where.append("kind = ?")
            params.append(kind)
        if scope_key:
            where.append("scope_key = ?")
            params.append(scope_key)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM memories {clause} ORDER BY last_used_at DESC, seq DESC LIMIT ?", (*params, limit)
        )
        return [_memory(r) for r in rows]

    async def for_task(self, task_id: str) -> list[StoredMemory]:
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM memories WHERE source_task_id = ? ORDER BY seq", (task_id,)
        )
        return [_memory(r) for r in rows]

    async def any_in(self, keys: Sequence[str]) -> tuple[bool, bool]:
        """(any memory in ``keys``, any of them not embedded yet), in one query."""
        marks = _marks(keys)
        row = await self.db.fetchone(
            f"""SELECT EXISTS(SELECT 1 FROM memories WHERE scope_key IN ({marks})),
                       EXISTS(SELECT 1 FROM memories WHERE embedder IS NULL AND scope_key IN ({marks}))""",
            (*keys, *keys),
        )
        return (bool(row[0]), bool(row[1])) if row is not None else (False, False)

    async def same_text(self, keys: Sequence[str], text: str) -> StoredMemory | None:
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM memories WHERE scope_key IN ({_marks(keys)}) AND text = ? LIMIT 1", (*keys, text)
        )
        return _memory(row) if row is not None else None

    async def unembedded(self, keys: Sequence[str] | None, limit: int) -> list[tuple[int, str, str]]:
        """(seq, scope key, text) of memories with no embedding yet, in ``keys`` (or anywhere)."""
        if keys is None:
            rows = await self.db.fetchall(
                "SELECT seq, scope_key, text FROM memories WHERE embedder IS NULL LIMIT ?", (limit,)
            )
        else:
            rows = await self.db.fetchall(
                f"""SELECT seq, scope_key, text FROM memories
                    WHERE embedder IS NULL AND scope_key IN ({_marks(keys)}) LIMIT ?""",
                (*keys, limit),
            )
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    async def embedding(self, seq: int) -> bytes | None:
        row = await self.db.fetchone("SELECT vector FROM memory_embeddings WHERE seq = ?", (seq,))
        return bytes(row[0]) if row else None

    async def set_embeddings(self, rows: Sequence[tuple[int, bytes]], embedder: str) -> None:
        async with self.db.transaction() as conn:
            await conn.executemany("INSERT OR REPLACE INTO memory_embeddings (seq, vector) VALUES (?, ?)", rows)
            await conn.executemany("UPDATE memories SET embedder = ? WHERE seq = ?", [(embedder, s) for s, _ in rows])

    async def forget_embeddings(self, unless_embedder: str | None = None) -> int:
        """Drop the embeddings made by another embedder (their vectors are not comparable with the
        current one's), or all of them; returns how many memories now need embedding."""
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE memories SET embedder = NULL WHERE embedder IS NOT NULL AND embedder IS NOT ?",
                (unless_embedder,),
            )
            await conn.execute(
                "DELETE FROM memory_embeddings WHERE seq IN (SELECT seq FROM memories WHERE embedder IS NULL)"
            )
            return int(cursor.rowcount)

    async def vectors(self, keys: Sequence[str]) -> list[tuple[int, str, bytes]]:
        """(seq, scope_key, embedding) of every embedded memory in the scopes ``keys``."""
        rows = await self.db.fetchall(
            f"""SELECT m.seq, m.scope_key, e.vector FROM memories m JOIN memory_embeddings e ON e.seq = m.seq
                WHERE m.scope_key IN ({_marks(keys)})""",
            keys,
        )
        return [(int(r[0]), str(r[1]), bytes(r[2])) for r in rows]

    async def scope_versions(self, keys: Sequence[str]) -> dict[str, int]:
        """The version of each of ``keys`` that has one. It moves whenever an embedding in that scope is
        added, replaced or removed, by any connection (triggers, migration 0013)."""
        rows = await self.db.fetchall(
            f"SELECT scope_key, version FROM memory_scope_versions WHERE scope_key IN ({_marks(keys)})", keys
        )
        return {str(r[0]): int(r[1]) for r in rows}

    async def embedded_in(self, key: str) -> int:
        """How many memories of scope ``key`` are embedded."""
        row = await self.db.fetchone(
            "SELECT COUNT(*) FROM memories m JOIN memory_embeddings e ON e.seq = m.seq WHERE m.scope_key = ?", (key,)
        )
        return int(row[0]) if row else 0

    async def vectors_after(self, key: str, seq: int, limit: int) -> list[tuple[int, str, bytes]]:
        """(seq, scope_key, embedding) of the next ``limit`` embedded memories after (``key``, ``seq``),
        in scope order: sqlite-vec fills a partition's chunks ~2.5x faster when its rows come together."""
        rows = await self.db.fetchall(
            """SELECT m.seq, m.scope_key, e.vector FROM memories m JOIN memory_embeddings e ON e.seq = m.seq
               WHERE (m.scope_key, m.seq) > (?, ?) ORDER BY m.scope_key, m.seq LIMIT ?""",
            (key, seq, limit),
        )
        return [(int(r[0]), str(r[1]), bytes(r[2])) for r in rows]

    async def record_use(self, task_id: str | None, used: Sequence[tuple[int, float]], now: datetime) -> None:
        """Mark memories as used now (which resets their decay) and, for a task, which it was given."""
        if not used:
            return
        stamp = now.isoformat()

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("UPDATE memories SET last_used_at = ? WHERE seq = ?", [(stamp, s) for s, _ in used])
                if task_id is not None:
                    conn.executemany(
                        """INSERT OR REPLACE INTO memory_uses (task_id, memory_seq, similarity, created_at)
                           VALUES (?,?,?,?)""",
                        [(task_id, seq, similarity, stamp) for seq, similarity in used],
                    )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

        await self.db.run_batch(write)

    async def uses(self, memory_seq: int) -> int:
        row = await self.db.fetchone("SELECT COUNT(*) FROM memory_uses WHERE memory_seq = ?", (memory_seq,))
        return int(row[0]) if row else 0

    async def set_global(self, seq: int, is_global: bool) -> str:
        """Mark a memory global (recalled in every scope) or return it to its own scope; returns its key."""
        row = await self.one(f"SELECT {_COLUMNS} FROM memories WHERE seq = ?", (seq,), f"no memory #{seq}")
        key = GLOBAL_SCOPE if is_global else _memory(row).scope.key
        await self.db.execute(
            "UPDATE memories SET is_global = ?, scope_key = ? WHERE seq = ?", (int(is_global), key, seq)
        )
        return key

    async def delete(self, seqs: Sequence[int]) -> None:
        for start in range(0, len(seqs), _PER_QUERY):
            part = list(seqs[start : start + _PER_QUERY])
            await self.db.execute(f"DELETE FROM memories WHERE seq IN ({_marks(part)})", part)

    async def decay_inputs(self) -> list[tuple[int, float, datetime]]:
        """(seq, confidence, last used) of every memory, for pruning."""
        rows = await self.db.fetchall("SELECT seq, confidence, last_used_at FROM memories")
        return [(int(r[0]), float(r[1]), datetime.fromisoformat(r[2])) for r in rows]

    async def counts(self) -> dict[str, int]:
        rows = await self.db.fetchall("SELECT kind, COUNT(*) AS n FROM memories GROUP BY kind ORDER BY kind")
        return {str(r["kind"]): int(r["n"]) for r in rows}

    async def count_unembedded(self) -> int:
        row = await self.db.fetchone("SELECT COUNT(*) FROM memories WHERE embedder IS NULL")
        return int(row[0]) if row else 0

    async def count_embedded(self) -> int:
        row = await self.db.fetchone("SELECT COUNT(*) FROM memory_embeddings")
        return int(row[0]) if row else 0

    async def meta(self, name: str) -> str | None:
        row = await self.db.fetchone("SELECT value FROM memory_meta WHERE name = ?", (name,))
        return str(row[0]) if row else None

    async def set_meta(self, name: str, value: str) -> None:
        await self.db.execute("INSERT OR REPLACE INTO memory_meta (name, value) VALUES (?, ?)", (name, value))
