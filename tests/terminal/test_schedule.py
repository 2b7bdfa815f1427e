"""``openkoi schedule list|run`` through click's CliRunner: in-process with no service, through a
request when another process holds the schedule, and did-you-mean for a misspelt job."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bots.terminal.cli import cli
from core.config import ScheduleSettings, load_settings
from core.store import Store
from scheduler.runs import JobRun
from scheduler.schedule import Schedule


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["schedule", *args])
    return result.exit_code, result.stdout, result.stderr


async def _read(home: Path, job: str) -> list[tuple[str, str, str]]:
    async with Store(load_settings().db_path) as store:
        return [(r.trigger, r.status, r.detail) for r in await store.schedule.runs(job)]


def test_list_shows_each_job_and_that_nobody_holds_the_schedule(home: Path) -> None:
    code, out, _ = invoke("list")
    assert code == 0, out
    assert "schedule: no live owner (openkoi serve is not running on this database)" in out
    assert "timezone: UTC" in out
    assert "memory_maintenance  (0 4 * * *)\n  next: " in out and "  last: never" in out
    for name in ("daily_digest", "weekly_digest", "pattern_mining", "audit_pruning"):
        assert f"{name}  (" in out
    assert out.count("  next: ") == 5 and out.count("  last: never") == 5
    assert out.count("posted by openkoi serve to the [digest] channels") == 2


def test_run_without_a_service_runs_memory_maintenance_here_and_list_shows_it(home: Path) -> None:
    code, out, err = invoke("run", "memory_maintenance")
    assert code == 0, out + err
    assert "running memory_maintenance here" in err
    assert out.startswith("✓ memory_maintenance: compacted 0 task transcripts (0 chars freed); pruned 0 faded memories")
    runs = asyncio.run(_read(home, "memory_maintenance"))
    assert [(t, s) for t, s, _ in runs] == [("manual", "ok")]
    code, out, _ = invoke("list")
    assert "manual ok — compacted 0 task transcripts" in out
    assert asyncio.run(_holder(home)) is None  # the lease taken for the run is released


async def _holder(home: Path) -> str | None:
    async with Store(load_settings().db_path) as store:
        holder = await store.schedule.holder(datetime.now(UTC))
        return holder.owner if holder else None


def test_a_digest_needs_the_service(home: Path) -> None:
    code, _, err = invoke("run", "daily_digest")
    assert code == 1
    assert "daily_digest posts into chat, so only openkoi serve can run it" in err
    assert asyncio.run(_read(home, "daily_digest")) == []


def test_a_misspelt_job_gets_a_suggestion(home: Path) -> None:
    code, _, err = invoke("run", "dialy_digest")
    assert code == 2
    assert "No such job 'dialy_digest'. Did you mean 'daily_digest'?" in err
    code, _, err = invoke("rnu", "memory_maintenance")
    assert code == 2 and "Did you mean 'run'?" in err


class Owner:
    """An ``openkoi serve``'s schedule, in another thread with its own event loop and connection."""

    def __init__(self) -> None:
        self.runs: list[JobRun] = []
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.schedule: Schedule | None = None
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def job(self, run: JobRun) -> str:
        self.runs.append(run)
        return "pruned 3 faded memories"

    async def _start(self) -> None:
        self.store = await Store(load_settings().db_path).open()
        settings = ScheduleSettings(memory_maintenance="0 4 * * *", misfire_grace_seconds=1)
        self.schedule = Schedule(settings, self.store, {"memory_maintenance": self.job}, poll_seconds=0.05)
        await self.schedule.start()

    async def _stop(self) -> None:
        assert self.schedule is not None
        await self.schedule.stop()
        await self.store.close()

    def __enter__(self) -> Owner:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=5)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


@pytest.fixture
def owner(home: Path) -> Iterator[Owner]:
    with Owner() as running:
        yield running


def test_run_with_a_live_service_is_run_by_the_service(home: Path, owner: Owner) -> None:
    assert owner.schedule is not None and owner.schedule.owning
    code, out, err = invoke("list")
    assert f"schedule: owned by {owner.schedule.owner}" in out
    code, out, err = invoke("run", "memory_maintenance", "--timeout", "5")
    assert code == 0, out + err
    assert f"asked {owner.schedule.owner} to run memory_maintenance" in err
    assert out == "✓ memory_maintenance: pruned 3 faded memories\n"
    assert [r.trigger for r in owner.runs] == ["manual"]  # run by the service, not here
    runs = asyncio.run(_read(home, "memory_maintenance"))
    assert runs == [("manual", "ok", "pruned 3 faded memories")]


def test_a_job_the_service_lacks_fails_with_its_reason(home: Path, owner: Owner) -> None:
    code, _, err = invoke("run", "weekly_digest", "--timeout", "5")
    assert code == 1
    assert "✗ weekly_digest failed: weekly_digest is not available in this service" in err


def test_a_request_nobody_takes_is_withdrawn(home: Path) -> None:
    async def stale_owner() -> None:  # a lease that is live but whose holder polls nothing
        async with Store(load_settings().db_path) as store:
            assert await store.schedule.acquire("elsewhere:1:ab", timedelta(seconds=60), datetime.now(UTC))

    asyncio.run(stale_owner())
    code, _, err = invoke("run", "memory_maintenance", "--timeout", "0.5")
    assert code == 1
    assert "error: elsewhere:1:ab did not take the request within 0.5s; it is withdrawn" in err
