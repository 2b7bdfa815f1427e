"""Group commit for chat intake: commands that arrive together are persisted in one transaction.

Each caller awaits its own result; the writer takes everything queued while the previous batch
was being written, so a quiet service writes one command per transaction (no added delay) and a
burst is written in a few large ones.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from core.store.intake import Intake, IntakeRepository

log = logging.getLogger(__name__)

MAX_BATCH = 500


@dataclass
class IntakeWriter:
    repository: IntakeRepository
    _queue: asyncio.Queue[tuple[Intake, asyncio.Future[bool]]] = field(default_factory=asyncio.Queue)
    _writer: asyncio.Task[None] | None = None

    async def add(self, item: Intake) -> bool:
        """Persist one command's task; True if created, False for a delivery key already taken.
        Raises whatever the database raised for the batch (nothing of that batch was written)."""
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="intake-writer")
        result: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, result))
        return await result

    async def _write(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                created = await self.repository.record([item for item, _ in batch])
            except Exception as exc:
                log.exception("persisting %d new tasks failed", len(batch))
                for _, result in batch:
                    if not result.done():
                        result.set_exception(exc)
                continue
            for (_, result), ok in zip(batch, created, strict=True):
                if not result.done():
                    result.set_result(ok)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
