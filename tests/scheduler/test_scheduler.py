"""The scheduler: catch-up once, one owner per database, failures recorded, APScheduler's real timer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.config import ScheduleSettings, Settings, load_settings
from core.errors import ConfigError
from core.memory.memory import Memory
from core.models import Scope
from core.store import Store
from scheduler.cron import latest_fire, make_trigger, next_fire
from scheduler.jobs import standard_jobs
from scheduler.runs import JobRun
from scheduler.schedule import Schedule


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Job:
    """A job body that records its runs; ``fail`` makes it raise."""

    def __init__(self, fail: str | None = None) -> None:
        self.runs: list[JobRun] = []
        self.fail = fail

    async def __call__(self, run: JobRun) -> str:
        self.runs.append(run)
        if self.fail is not None:
            raise RuntimeError(self.fail)
        return f"ran for {run.fire_time:%H:%M}"


@pytest.fixture
async def store(home: Path) -> AsyncIterator[Store]:
    async with Store(load_settings().db_path) as opened:
        yield opened


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


DAILY = ScheduleSettings(memory_maintenance="0 4 * * *", misfire_grace_seconds=6 * 3600, lease_seconds=60)


async def test_a_run_missed_over_two_periods_of_downtime_is_caught_up_once_never_twice(store: Store) -> None:
    job = Job()
    clock = Clock(at("2026-12-01T03:00:00"))
    first = Schedule(DAILY, store, {"memory_maintenance": job}, clock=clock, timer=False)
    await first.tick()
    await first.settle()
    assert first.owning and job.runs == []  # 04:00 has not come yet
    await first.stop()

    # Down from 03:00 on the 1st until 06:00 on the 3rd: the 1st's, 2nd's and 3rd's 04:00 were missed.
    clock.now = at("2026-12-03T06:00:00")
    second = Schedule(DAILY, store, {"memory_maintenance": job}, clock=clock, timer=False)
    await second.tick()
    await second.settle()
    assert [(r.fire_time, r.trigger) for r in job.runs] == [(at("2026-12-03T04:00:00"), "catch-up")]
    record = await store.schedule.last_run("memory_maintenance")
    assert record is not None and (record.status, record.trigger, record.detail) == ("ok", "catch-up", "ran for 04:00")
    assert await store.schedule.run_for("memory_maintenance", at("2026-12-02T04:00:00")) is None  # earlier: not run
    assert await second.run_due() == []  # asked again: nothing to do
    await second.stop()

    clock.advance(minutes=30)  # restart again within the grace: the 3rd's run is not run a second time
    third = Schedule(DAILY, store, {"memory_maintenance": job}, clock=clock, timer=False)
    await third.tick()
    await third.settle()
    assert len(job.runs) == 1
    assert (await third.run_job("memory_maintenance", "catch-up", at("2026-12-03T04:00:00"))).status == "skipped"
    assert len(job.runs) == 1
    await third.stop()


async def scheduled_since(store: Store, when: str = "2026-11-01T00:00:00") -> None:
    """The schedule has run on this database since ``when`` (else a first start catches nothing up)."""
    await store.schedule.since(at(when))


async def test_a_first_start_on_a_new_database_catches_nothing_up(store: Store) -> None:
    job = Job()
    clock = Clock(at("2026-12-03T06:00:00"))  # two hours after 04:00, well within the grace
    schedule = Schedule(DAILY, store, {"memory_maintenance": job}, clock=clock, timer=False)
    await schedule.tick()
    await schedule.settle()
    assert schedule.owning and job.runs == []  # nothing was missed: there was no schedule at 04:00
    await schedule.stop()
    clock.now = at("2026-12-04T05:00:00")  # down over the 4th's 04:00, after the schedule began: caught up
    again = Schedule(DAILY, store, {"memory_maintenance": job}, clock=clock, timer=False)
    await again.tick()
    await again.settle()
    assert [(r.fire_time, r.trigger) for r in job.runs] == [(at("2026-12-04T04:00:00"), "catch-up")]
    await again.stop()


async def test_a_run_older_than_the_grace_is_not_caught_up(store: Store) -> None:
    await scheduled_since(store)
    job = Job()
    clock = Clock(at("2026-12-03T10:00:01"))  # 6 h and 1 s after 04:00
    schedule = Schedule(DAILY, store, {"memory_maintenance": job}, clock=clock, timer=False)
    await schedule.tick()
    await schedule.settle()
    assert job.runs == []
    clock.now = at("2026-12-03T10:00:00")  # exactly the grace: still runs
    assert [o.status for o in await schedule.run_due()] == ["ok"]
    await schedule.stop()


async def test_a_second_schedule_on_the_same_database_does_not_schedule_until_the_first_lease_expires(
    store: Store, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await scheduled_since(store)
    clock = Clock(at("2026-12-03T05:00:00"))
    first_job, second_job = Job(), Job()
    first = Schedule(DAILY, store, {"memory_maintenance": first_job}, clock=clock, timer=False)
    await first.tick()
    await first.settle()
    assert first.state == "this instance" and len(first_job.runs) == 1
    # The first is now running a manual run when it "crashes": it stops renewing, and its run stays 'running'.
    await store.schedule.claim("memory_maintenance", clock.now, "manual", first.owner, clock.now)

    async with Store(load_settings().db_path) as other:  # another process: its own connection
        second = Schedule(DAILY, other, {"memory_maintenance": second_job}, clock=clock, timer=False)
        with caplog.at_level(logging.WARNING, logger="openkoi.schedule"):
            await second.tick()
            clock.advance(seconds=30)
            await second.tick()
        assert second.state == "another instance" and not second.owning
        warnings = [r.getMessage() for r in caplog.records if "owns the schedule" in r.getMessage()]
        assert warnings == [
            f"another openkoi serve (owner {first.owner}) owns the schedule on this database;"
            " this instance will not schedule"
        ]  # said once, not on every retry
        assert second.holder is not None and second.holder.owner == first.owner
        assert second_job.runs == []

        clock.advance(seconds=31)  # 61 s since the first's last renewal: its lease has expired
        await second.tick()
        await second.settle()
        assert second.owning  # state: "this instance"
        assert second_job.runs == []  # the 04:00 run was already done by the first: not again
        interrupted = await other.schedule.run_for("memory_maintenance", at("2026-12-03T05:00:00"))
        assert interrupted is not None and interrupted.status == "failed" and "interrupted" in interrupted.detail

        clock.advance(seconds=20)
        await first.tick()  # the first comes back: its renewal fails and it stops scheduling
        assert not first.owning
        await second.stop()
        assert await other.schedule.holder(clock.now) is None  # released
    await first.stop()


async def test_two_processes_racing_for_the_lease_cannot_both_win(store: Store) -> None:
    now = at("2026-12-03T05:00:00")
    async with Store(load_settings().db_path) as other:
        won = await asyncio.gather(
            *(
                repo.acquire(f"owner-{i}", timedelta(seconds=60), now)
                for i, repo in enumerate([store.schedule, other.schedule] * 5)
            )
        )
    assert sum(won) == 1  # ten different owners, one lease
    assert not await store.schedule.acquire("late", timedelta(seconds=60), now + timedelta(seconds=59))
    assert await store.schedule.acquire("late", timedelta(seconds=60), now + timedelta(seconds=60))


async def test_a_failing_job_is_recorded_failed_and_the_others_still_run(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    await scheduled_since(store)
    settings = ScheduleSettings(memory_maintenance="0 4 * * *", pattern_mining="0 4 * * *")
    broken, fine = Job(fail="the index is\nlocked"), Job()
    clock = Clock(at("2026-12-03T05:00:00"))
    schedule = Schedule(
        settings, store, {"memory_maintenance": broken, "pattern_mining": fine}, clock=clock, timer=False
    )
    with caplog.at_level(logging.WARNING, logger="openkoi.schedule"):
        await schedule.tick()
        await schedule.settle()
    failed = await store.schedule.last_run("memory_maintenance")
    assert failed is not None and failed.status == "failed"
    assert failed.detail == "RuntimeError: the index is locked"
    ok = await store.schedule.last_run("pattern_mining")
    assert ok is not None and ok.status == "ok"
    lines = [r for r in caplog.records if "failed" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None  # one line, no traceback
    broken.fail = None
    clock.advance(minutes=1)
    assert (await schedule.run_job("memory_maintenance")).status == "ok"  # still running, and it recovers
    await schedule.stop()


async def _wait_for(predicate: object, seconds: float = 2.5) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if await predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


async def test_the_real_apscheduler_fires_jobs_and_keeps_running_after_a_failure(store: Store) -> None:
    # Grace 1 s: no catch-up of the latest minute at start, so only the timer runs anything.
    settings = ScheduleSettings(memory_maintenance="0 4 * * *", pattern_mining="0 4 * * *", misfire_grace_seconds=1)
    broken, fine = Job(fail="boom"), Job()
    schedule = Schedule(settings, store, {"memory_maintenance": broken, "pattern_mining": fine})
    await schedule.start()
    try:
        assert schedule._aps is not None and schedule._aps.running
        job = schedule._aps.get_job("memory_maintenance")
        assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, 1)
        schedule._aps.modify_job("memory_maintenance", next_run_time=datetime.now(UTC))

        async def failed() -> bool:
            run = await store.schedule.last_run("memory_maintenance")
            return run is not None and run.status == "failed"

        await _wait_for(failed)
        schedule._aps.modify_job("pattern_mining", next_run_time=datetime.now(UTC))

        async def ran() -> bool:
            return bool(fine.runs) and (await store.schedule.last_run("pattern_mining")) is not None

        await _wait_for(ran)
        assert fine.runs[0].trigger == "schedule" and len(broken.runs) == 1
    finally:
        await schedule.stop()
    assert schedule._aps is None


async def test_the_listener_logs_and_records_a_missed_run(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    settings = ScheduleSettings(memory_maintenance="0 4 * * *", misfire_grace_seconds=1)
    job = Job()
    schedule = Schedule(settings, store, {"memory_maintenance": job})
    with caplog.at_level(logging.WARNING):
        await schedule.start()
        try:
            assert schedule._aps is not None
            late = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
            schedule._aps.modify_job("memory_maintenance", next_run_time=late)

            async def recorded() -> bool:
                return await store.schedule.run_for("memory_maintenance", late) is not None

            await _wait_for(recorded)
        finally:
            await schedule.stop()
    assert job.runs == []
    missed = await store.schedule.run_for("memory_maintenance", late)
    assert missed is not None and missed.status == "missed"
    lines = [r.getMessage() for r in caplog.records if "missed" in r.getMessage()]
    assert lines == [
        f"schedule: memory_maintenance missed its run for {late.isoformat()} (started more than"
        " misfire_grace_seconds=1 late)"
    ]


async def test_a_disabled_schedule_takes_no_lease(store: Store) -> None:
    schedule = Schedule(ScheduleSettings(enabled=False), store, {"memory_maintenance": Job()})
    await schedule.start()
    assert schedule.state == "disabled"
    assert await store.schedule.holder(datetime.now(UTC)) is None
    await schedule.stop()


# Crontab semantics and settings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "weekday"),
    [("0 9 * * 1", 0), ("0 9 * * mon", 0), ("0 9 * * 0", 6), ("0 9 * * 7", 6), ("0 9 * * sun", 6), ("0 9 * * 5", 4)],
)
def test_weekdays_mean_what_they_mean_in_crontab(expr: str, weekday: int) -> None:
    trigger = make_trigger("weekly_digest", expr, "UTC")
    fire = next_fire(trigger, at("2026-12-01T12:00:00"))  # a Tuesday
    assert fire is not None and fire.weekday() == weekday and fire.hour == 9


def test_fire_times_are_in_the_configured_timezone() -> None:
    trigger = make_trigger("daily_digest", "0 9 * * *", "Europe/Berlin")
    assert next_fire(trigger, at("2026-12-01T12:00:00")) == at("2026-12-02T08:00:00")
    assert latest_fire(trigger, at("2026-12-01T12:00:00"), timedelta(hours=6)) == at("2026-12-01T08:00:00")
    assert latest_fire(trigger, at("2026-12-01T12:00:00"), timedelta(hours=3)) is None


def test_latest_fire_of_a_frequent_cron_over_a_long_grace_is_quick() -> None:
    trigger = make_trigger("pattern_mining", "* * * * *", "UTC")
    assert latest_fire(trigger, at("2026-12-01T12:00:30"), timedelta(days=30)) == at("2026-12-01T12:00:00")


@pytest.mark.parametrize(
    ("key", "value", "said"),
    [
        ("daily_digest", "0 25 * * *", "hour: 25 is outside 0-23"),
        ("weekly_digest", "0 9 * *", "has 4 fields"),
        ("pattern_mining", "0 9 * * funday", "'funday' is not a number or a name"),
        ("memory_maintenance", "0 9 1 * mon", "restrict only one of them"),
        ("timezone", "Mars/Olympus", "unknown timezone 'Mars/Olympus'"),
    ],
)
def test_a_bad_cron_or_timezone_is_a_clear_config_error(home: Path, key: str, value: str, said: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(f'[schedule]\n{key} = "{value}"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert f"key 'schedule.{key}'" in str(caught.value) and said in str(caught.value)
    assert str(home / "config.toml") in str(caught.value)


async def test_memory_maintenance_prunes_faded_memories_through_core(memory: Memory, settings: Settings) -> None:
    now = datetime.now(UTC)
    scope = Scope(workspace="/srv/api")
    kept, _ = await memory.remember("heuristic", "Rotate API signing keys every quarter", 0.8, scope, now=now)
    await memory.remember(
        "anti_pattern", "Never hard-code auth tokens in the repository", 0.8, scope, now=now - timedelta(weeks=60)
    )
    jobs = standard_jobs(settings, memory.store, memory=memory)
    # The digests are not given: not scheduled.
    assert set(jobs) == {"memory_maintenance", "pattern_mining", "audit_pruning"}
    schedule = Schedule(settings.schedule, memory.store, jobs, clock=lambda: now, timer=False)
    outcome = await schedule.run_job("memory_maintenance")
    assert (outcome.status, outcome.detail) == (
        "ok",
        "compacted 0 task transcripts (0 chars freed); pruned 1 faded memory",
    )
    assert [m.id for m in await memory.store.memories.listing()] == [kept.id]
