"""A runbook that runs too long is stopped with its whole process group (SIGTERM, then SIGKILL); one that hangs
blocks neither the event loop nor another runbook; a cancelled call leaves nothing running."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from integrations.runbooks import Runbook
from tests.integrations.runbooks.support import PYTHON, Sink, alive, python, runbook

# Ignores SIGTERM (or not), starts a grandchild that does the same, writes both pids, says so, then sleeps.
SLEEPER = """
import os, signal, subprocess, sys, time
if sys.argv[2] == 'ignore':
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if sys.argv[1] != 'leaf':
    child = subprocess.Popen([sys.executable, __file__, 'leaf', sys.argv[2]])
    with open(sys.argv[1], 'w') as f:
        f.write(str(os.getpid()) + ' ' + str(child.pid))
    print('ready', flush=True)
time.sleep(60)
"""


def sleeper(tmp_path: Path, on_sigterm: str, timeout_sec: float, grace: float = 0.5) -> tuple[Runbook, Path]:
    """A runbook running SLEEPER as a script file; returns it and the file its pids are written to."""
    script = tmp_path / "sleeper.py"
    script.write_text(SLEEPER)
    pids = tmp_path / "pids"
    return runbook([PYTHON, str(script), str(pids), on_sigterm], timeout_sec=timeout_sec, grace=grace), pids


def pids_in(path: Path) -> list[int]:
    found = path.read_text().split() if path.exists() else []
    return [int(pid) for pid in found] if len(found) == 2 else []


async def started(pids: Path) -> list[int]:
    for _ in range(500):
        if found := pids_in(pids):
            return found
        await asyncio.sleep(0.02)
    raise AssertionError("the sleeper never started")


async def wait_until_gone(pids: list[int], tries: int = 100) -> None:
    for _ in range(tries):
        if not any(alive(pid) for pid in pids):
            return
        await asyncio.sleep(0.05)
    assert [pid for pid in pids if alive(pid)] == []


async def test_a_command_that_ignores_sigterm_is_killed_with_its_children_after_the_grace(tmp_path: Path) -> None:
    tool, pids = sleeper(tmp_path, "ignore", timeout_sec=1.5, grace=1.0)
    begun = time.monotonic()
    result = await tool.run({})
    elapsed = time.monotonic() - begun
    assert result == "timed out after 1.5 s\nready", "says it timed out, and what came before"
    assert 2.4 <= elapsed < 5.0, "SIGTERM was ignored, so SIGKILL came after the grace period"
    await wait_until_gone(await started(pids))


async def test_a_command_that_obeys_sigterm_is_not_kept_waiting_for_the_grace(tmp_path: Path) -> None:
    tool, pids = sleeper(tmp_path, "obey", timeout_sec=1.0, grace=10.0)
    begun = time.monotonic()
    assert await tool.run({}) == "timed out after 1 s\nready"
    assert time.monotonic() - begun < 4.0, "SIGTERM first: a command that stops on it is not waited for"
    await wait_until_gone(await started(pids))


async def test_a_hanging_runbook_blocks_neither_the_loop_nor_another_runbook(tmp_path: Path) -> None:
    hanging, pids = sleeper(tmp_path, "ignore", timeout_sec=30)
    quick = runbook(["/bin/echo", "done"])
    gaps: list[float] = []

    async def heartbeat() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    beat = asyncio.create_task(heartbeat())
    hang = asyncio.create_task(hanging.run({}, Sink()))
    try:
        running = await started(pids)
        begun = time.monotonic()
        assert await quick.run({}) == "exit 0\ndone"
        assert time.monotonic() - begun < 5.0
        assert not hang.done() and all(alive(pid) for pid in running)
        assert max(gaps) < 1.0, "the event loop kept turning"
    finally:
        beat.cancel()
        hang.cancel()
        await asyncio.gather(beat, hang, return_exceptions=True)
    assert hang.cancelled()
    await wait_until_gone(running)  # a cancelled call leaves nothing running, SIGTERM ignored or not


async def test_the_end_is_the_commands_exit_even_if_something_it_left_holds_the_output_open(tmp_path: Path) -> None:
    pid_file = tmp_path / "daemon"
    script = (
        "import subprocess, sys\n"
        "d = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'], start_new_session=True)\n"
        f"open({str(pid_file)!r}, 'w').write(str(d.pid))\n"
        "print('started')\n"
    )
    begun = time.monotonic()
    result = await python(script, timeout_sec=20).run({})
    daemon = int(pid_file.read_text())
    try:
        assert result == "exit 0\nstarted"
        assert time.monotonic() - begun < 5.0, "not held until the timeout by the daemon's copy of the pipe"
    finally:
        if alive(daemon):
            os.kill(daemon, signal.SIGKILL)
