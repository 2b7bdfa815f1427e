"""Running one command as argv, never through a shell, within a time and a size limit, streaming its output.

The command runs in its own session (so its whole process group can be stopped), with stdin closed and a
small explicit environment (``PATH``, ``LANG``, ``HOME``: none of the service's credentials). stdout and
stderr share one pipe, so their lines arrive in the order the command wrote them. The pipe is ours, not
asyncio's: the command's end is its exit, even if something it left in the background still holds the pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from core.acting.action import OutputSink
from integrations.runbooks.arguments import RunbookError
from integrations.runbooks.output import Capture

# After the command exits, the pipe may be quiet this long before we stop reading (what it left in the
# background may hold the pipe open); the sink gets ``STREAM_GRACE_SEC`` to take the rest of the output.
DRAIN_SEC = 0.5
STREAM_GRACE_SEC = 5.0


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
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the team's own command
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
    try:
        timed_out = await _wait_for_end(process, pump, capture, timeout_sec, kill_grace_sec)
        await _stopped(pump)
        await capture.finish(within=STREAM_GRACE_SEC)
    finally:
        if process.returncode is None:  # cancelled: stop it now, there is no one to wait for
            _signal_group(process.pid, signal.SIGKILL)
        await _stopped(pump)
        await capture.abandon()
        transport.close()
    return Outcome(
        exit_code=None if timed_out else process.returncode,
        timed_out=timed_out,
        output=capture.text(),
        cut_bytes=capture.cut,
        kept_bytes=len(capture.kept),
        duration_sec=time.monotonic() - started,
    )


async def _wait_for_end(
    process: asyncio.subprocess.Process, pump: asyncio.Task[None], capture: Capture, within: float, grace: float
) -> bool:
    """Wait for the command's exit and its output; stop it after ``within`` seconds. True when it timed out."""
    try:
        async with asyncio.timeout(within):
            await process.wait()
            await _drained(pump, capture)
        return False
    except TimeoutError:
        await _stop(process, grace)
        await _drained(pump, capture, limit=4 * DRAIN_SEC)  # what it wrote before it was stopped
        return True


async def _drained(pump: asyncio.Task[None], capture: Capture, limit: float | None = None) -> None:
    """Until the output's end of file, or until the pipe has been quiet for ``DRAIN_SEC`` after the command
    ended (something it left in the background holds it open), or at most ``limit`` seconds."""
    deadline = None if limit is None else time.monotonic() + limit
    while not pump.done():
        await asyncio.wait({pump}, timeout=DRAIN_SEC)
        now = time.monotonic()
        if now - capture.last_read >= DRAIN_SEC or (deadline is not None and now >= deadline):
            return


async def _stopped(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _cannot_start(exc: OSError | ValueError, program: str, cwd: Path | None) -> str:
    if isinstance(exc, ValueError):
        return f"cannot start {program!r}: {exc}"
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
