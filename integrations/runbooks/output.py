"""A running command's output: the first bytes kept up to a limit, the rest counted and dropped, and what is
kept streamed to the caller's sink in lines, redacted.

Reading never waits for the sink: the sink (a chat thread, which may be slow or down) gets its text from a
queue in a task of its own, so the command is never held up by it and its result is complete whatever the
sink does.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import time

from core.acting.action import OutputSink
from core.secrets import SECRETS

log = logging.getLogger(__name__)

READ_BYTES = 4096
# A partial line (no newline yet) is streamed after this pause, or once it is this long; the last
# ``HOLD_BACK`` characters of a long one wait for more, so a secret cut in two is still redacted whole.
QUIET_SEC = 0.3
LONG_LINE = 4096
HOLD_BACK = 512


class Capture:
    """The output of one command as it arrives (``pump``), and what the sink has yet to be given."""

    def __init__(self, limit: int, sink: OutputSink | None) -> None:
        self.limit = limit
        self.kept = bytearray()
        self.cut = 0
        self.last_read = time.monotonic()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._sink = sink
        self._sender = asyncio.create_task(self._send(sink)) if sink is not None else None

    async def pump(self, reader: asyncio.StreamReader) -> None:
        """Read until end of file; a partial line is streamed when the command pauses."""
        read: asyncio.Task[bytes] | None = None
        try:
            while True:
                read = read or asyncio.ensure_future(reader.read(READ_BYTES))
                done, _ = await asyncio.wait({read}, timeout=QUIET_SEC if self._partial else None)
                if not done:
                    self._emit(self._partial)
                    self._partial = ""
                    continue
                data, read = read.result(), None
                if not data:
                    return
                self.last_read = time.monotonic()
                self._feed(data)
        finally:
            if read is not None:
                read.cancel()

    def _feed(self, data: bytes) -> None:
        room = max(self.limit - len(self.kept), 0)
        kept, dropped = data[:room], data[room:]
        if kept:
            self.kept += kept
            self._stream(self._decoder.decode(kept))
        if dropped:
            if not self.cut:
                self._emit(self._partial + self._decoder.decode(b"", final=True))
                self._partial = ""
                self._emit(f"\n[output past {self.limit:,} bytes is cut]\n")
            self.cut += len(dropped)

    def _stream(self, text: str) -> None:
        self._partial += text
        cut = max(self._partial.rfind("\n"), self._partial.rfind("\r")) + 1
        if cut == 0 and len(self._partial) > LONG_LINE:
            cut = len(self._partial) - HOLD_BACK
        if cut:
            ready, self._partial = self._partial[:cut], self._partial[cut:]
            self._emit(ready)

    def _emit(self, text: str) -> None:
        if text and self._sender is not None:
            self._queue.put_nowait(text)

    async def _send(self, sink: OutputSink) -> None:
        while (text := await self._queue.get()) is not None:
            try:
                await sink(SECRETS.redact(text))
            except Exception as exc:  # the thread failing to show output must not stop the action half-way
                log.warning("runbook output could not be streamed; the rest is not: %s", exc)
                self._sender = None
                return

    async def finish(self, within: float) -> None:
        """Stream what is left of a last line and give the sink at most ``within`` seconds to take the rest.
        Call once reading has stopped."""
        if not self.cut:
            self._partial += self._decoder.decode(b"", final=True)
        self._emit(self._partial)
        self._partial = ""
        sender = self._sender
        if sender is None:
            return
        self._queue.put_nowait(None)
        done, _ = await asyncio.wait({sender}, timeout=within)
        if not done:
            log.warning("runbook output was not all streamed: the sink took longer than %s s", within)

    async def abandon(self) -> None:
        """Stop streaming (idempotent): nothing more reaches the sink."""
        sender, self._sender = self._sender, None
        if sender is not None and not sender.done():
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    def text(self) -> str:
        """Everything kept, decoded as UTF-8 with replacement, redacted."""
        return SECRETS.redact(bytes(self.kept).decode("utf-8", errors="replace"))
