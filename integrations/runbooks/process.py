"""Running one command as argv, never through a shell, within a time and a size limit, streaming its output.

The command runs in its own session (so its whole process group can be stopped), with stdin closed and a
small explicit environment (``PATH``, ``LANG``, ``HOME``: none of the service's credentials). stdout and
stderr share one pipe, so their lines arrive in the order the command wrote them. The pipe is ours, not
asyncio's: the command's end is its exit, even if something it left in the background still holds the pipe.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from core.acting.action import OutputSink
from core.secrets import SECRETS
from integrations.runbooks.arguments import RunbookError

log = logging.getLogger(__name__)

READ_BYTES = 4096
# A partial line (no newline yet) is streamed after this pause, or once it is this long; the last
# ``HOLD_BACK`` characters of a long one wait for more, so a secret cut in two is still redacted whole.
QUIET_SEC = 0.3
LONG_LINE = 4096
HOLD_BACK = 512
# After the command exits, what it left in the background gets this long to close the pipe.
DRAIN_SEC = 0.5


@dataclass(frozen=True)
class Outcome:
    """How a command ended and what it wrote (redacted). ``exit_code`` is ``None`` when it timed out;
    negative when a signal ended it."""

    exit_code: int | None
    timed_out: bool
    output: str
    cut_bytes: int
    kept_bytes: int
    duration_sec: float


def environment() -> dict[str, str]:
    """The command's whole environment: where to find programs, a UTF-8 locale, a home. Nothing else."""
    return {"PATH": os.environ.get("PATH") or os.defpath, "LANG": "C.UTF-8", "HOME": str(Path.home())}


async def run_command(
    argv: list[str],
    *,
    cwd: Path | None,
    timeout_sec: float,
    max_output_bytes: int,
    on_output: OutputSink | None = None,
    kill_grace_sec: float = 2.0,
) -> Outcome:
    """Run ``argv`` and wait for its end or ``timeout_sec``; on timeout its process group gets SIGTERM, then
    SIGKILL after ``kill_grace_sec``. Raises ``RunbookError`` (one line) when the command cannot start."""
    started = time.monotonic()
    read_fd, write_fd = os.pipe()
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=write_fd,
            stderr=write_fd,
            cwd=cwd,
            env=environment(),
            start_new_session=True,
        )
    except OSError as exc:
        os.close(read_fd)
        raise RunbookError(_cannot_start(exc, argv[0], cwd)) from None
    finally:
        os.close(write_fd)  # the command holds its own copy; ours would keep the pipe open forever
    capture = Capture(max_output_bytes, on_output)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(loop=loop)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader, loop=loop), os.fdopen(read_fd, "rb", buffering=0)
    )
    pump = asyncio.create_task(capture.pump(reader))
    timed_out = False
    try:
        try:
            async with asyncio.timeout(timeout_sec):
                await process.wait()
                await asyncio.wait({pump}, timeout=DRAIN_SEC)
        except TimeoutError:
            timed_out = True
            await _stop(process, kill_grace_sec)
            await asyncio.wait({pump}, timeout=DRAIN_SEC)  # what it wrote before it was stopped
    finally:
        if process.returncode is None:  # cancelled: stop it now, there is no one to wait for
            _signal_group(process.pid, signal.SIGKILL)
        if not pump.done():
            pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)
        transport.close()
    await capture.finish()
    return Outcome(
        exit_code=None if timed_out else process.returncode,
        timed_out=timed_out,
        output=capture.text(),
        cut_bytes=capture.cut,
        kept_bytes=len(capture.kept),
        duration_sec=time.monotonic() - started,
    )


def _cannot_start(exc: OSError, program: str, cwd: Path | None) -> str:
    # subprocess names the working directory as the failing file when chdir failed.
    if cwd is not None and exc.filename is not None and os.fsdecode(exc.filename) == str(cwd):
        return f"cannot start {program}: working directory {cwd}: {exc.strerror or exc}"
    if isinstance(exc, FileNotFoundError):
        return f"not found: {program}"
    if isinstance(exc, PermissionError):
        return f"permission denied: {program}"
    return f"cannot start {program}: {exc.strerror or exc}"


async def _stop(process: asyncio.subprocess.Process, grace_sec: float) -> None:
    """SIGTERM to the command's process group, SIGKILL to what is left of it after ``grace_sec``."""
    _signal_group(process.pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(grace_sec):
            await process.wait()
    # Even when the command itself has gone, a child of it that ignored SIGTERM may not have.
    _signal_group(process.pid, signal.SIGKILL)
    await process.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class Capture:
    """The command's output as it arrives: the first ``limit`` bytes kept, the rest counted and dropped;
    kept text streamed to ``sink`` in lines (or a partial line after a pause), redacted."""

    def __init__(self, limit: int, sink: OutputSink | None) -> None:
        self.limit = limit
        self.kept = bytearray()
        self.cut = 0
        self._sink = sink
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""

    async def pump(self, reader: asyncio.StreamReader) -> None:
        """Read until end of file, streaming as it goes."""
        read: asyncio.Task[bytes] | None = None
        try:
            while True:
                read = read or asyncio.ensure_future(reader.read(READ_BYTES))
                done, _ = await asyncio.wait({read}, timeout=QUIET_SEC if self._partial else None)
                if not done:
                    await self._emit(self._partial)
                    self._partial = ""
                    continue
                data, read = read.result(), None
                if not data:
                    return
                await self._feed(data)
        finally:
            if read is not None:
                read.cancel()

    async def _feed(self, data: bytes) -> None:
        room = self.limit - len(self.kept)
        kept, dropped = data[: max(room, 0)], data[max(room, 0) :]
        if kept:
            self.kept += kept
            await self._stream(self._decoder.decode(kept))
        if dropped:
            first_cut = self.cut == 0
            self.cut += len(dropped)
            if first_cut:
                await self._stream(self._decoder.decode(b"", final=True))
                await self._emit(self._partial)
                self._partial = ""
                await self._emit(f"\n[output past {self.limit:,} bytes is cut]\n")

    async def _stream(self, text: str) -> None:
        self._partial += text
        cut = max(self._partial.rfind("\n"), self._partial.rfind("\r")) + 1
        if cut == 0 and len(self._partial) > LONG_LINE:
            cut = len(self._partial) - HOLD_BACK
        if cut:
            ready, self._partial = self._partial[:cut], self._partial[cut:]
            await self._emit(ready)

    async def finish(self) -> None:
        """Stream what is left of a last line without a newline."""
        if not self.cut:
            self._partial += self._decoder.decode(b"", final=True)
        await self._emit(self._partial)
        self._partial = ""

    async def _emit(self, text: str) -> None:
        if not text or self._sink is None:
            return
        try:
            await self._sink(SECRETS.redact(text))
        except Exception as exc:  # the thread failing to show output must not stop the action half-way
            log.warning("runbook output could not be streamed; the rest is not: %s", exc)
            self._sink = None

    def text(self) -> str:
        """Everything kept, decoded as UTF-8 with replacement, redacted."""
        return SECRETS.redact(bytes(self.kept).decode("utf-8", errors="replace"))
