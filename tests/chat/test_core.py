"""The shared chat machinery: ingress (dedupe, access, persistence), desk, publisher, worker pool, recovery.

The platform here is an in-memory recorder implementing the adapters' protocol; the engine, the
store, the model path (litellm → fake model server) and the service are the real ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection

import pytest

from bots.chat.access import AccessPolicy
from bots.chat.intake import NotAccepted
from bots.chat.platform import Actor, InboundCommand
from bots.chat.settings import Access
from bots.chat.workers import Job, WorkerPool
from bots.service import Service
from core.config import Settings
from core.events import DirectiveReady
from core.models import TaskStatus
from core.outputs import Directive
from tests.chat_service import running_service, service_settings, wait_until
from tests.fakes import scripts
from tests.fakes.chat_platform import NAME as PLATFORM
from tests.fakes.chat_platform import RecordingPlatform
from tests.fakes.model_server import FakeModelServer, Reply
from tests.support import guardian_blocks_next, status_of, wait_status

ALICE = Actor(PLATFORM, "UALICE", "alice")
BOB = Actor(PLATFORM, "UBOB", "bob")


def think(text: str, key: str = "k1", actor: Actor = ALICE, channel: str = "C1") -> InboundCommand:
    return InboundCommand(PLATFORM, key, actor, channel, text)


async def attach(svc: Service, access: Access | None = None) -> RecordingPlatform:
    platform = RecordingPlatform()
    svc.adapters[PLATFORM] = platform
    svc.publisher.platforms[PLATFORM] = platform
    policy = AccessPolicy(access or Access())
    svc.ingress.policies[PLATFORM] = policy
    svc.desk.policies[PLATFORM] = policy
    return platform


@pytest.fixture
async def svc(settings: Settings) -> AsyncIterator[Service]:
    async with running_service(settings, service_settings()) as service:
        yield service


async def test_think_persists_then_runs_and_renders_the_thread(svc: Service) -> None:
    platform = await attach(svc)
    reply = await svc.ingress.handle(think("write a haiku about tests"))
    assert reply is not None and reply.task_id is not None and reply.task_id[:8] in reply.text
    task_id = reply.task_id
    conversation = await svc.store.conversations.get(task_id)
    assert conversation is not None and conversation.requester_id == "UALICE"
    assert await svc.store.inbound.task_for(PLATFORM, "k1") == task_id
    await _shown(svc, task_id)
    parent = platform.parents()[0]
    thread = [p.current.text for p in platform.thread(parent.message_id)]
    joined = "\n".join(thread)
    assert "Sovereign" in thread[0]
    assert "Parliament" in joined and all(
        a in joined for a in ("Guardian", "Economist", "Empath", "Scholar", "Strategist")
    )
    assert "Iteration 1" in joined and "score" in joined
    assert "The answer." in joined
    assert "Done" in thread[-1] and "iteration" in thread[-1]
    assert "done" in parent.current.text  # the parent's status was edited to the final state


async def test_a_result_below_the_bar_says_so_in_the_thread_and_can_be_rated(
    svc: Service, fake_model: FakeModelServer
) -> None:
    platform = await attach(svc)
    fake_model.script.queue("Evaluation", scripts.evaluation(5, [scripts.finding("quality")]))
    reply = await svc.ingress.handle(think("write a haiku about tests -i 1"))
    assert reply is not None and reply.task_id is not None
    await _shown(svc, reply.task_id)
    parent = platform.parents()[0]
    last = platform.thread(parent.message_id)[-1].current
    assert last.text.startswith("⚠️ **Finished below the bar** (0.50 < 0.80) after 1 iteration: reached the iteration")
    assert "Done" not in last.text and len(last.buttons) == 2, "a result below the bar is rated like any other"
    assert "below bar" in parent.current.text and "score 0.50" in parent.current.text


async def test_invalid_ballots_are_shown_in_the_thread(svc: Service, fake_model: FakeModelServer) -> None:
    platform = await attach(svc)
    fake_model.script.default("ParliamentReply", scripts.the_prompts_example)
    reply = await svc.ingress.handle(think("Drop the production database and delete all backups"))
    assert reply is not None and reply.task_id is not None
    await wait_status(svc, reply.task_id, TaskStatus.AWAITING_CONFIRMATION)
    await svc.publisher.flush(within=5)
    thread = [p.current.text for p in platform.thread(platform.parents()[0].message_id)]
    [verdict] = [t for t in thread if "Parliament" in t]
    assert "blocked: the Guardian gave no usable judgement" in verdict
    assert verdict.count("**invalid**, not counted: its reason copies the prompt's example") == 5


async def test_a_model_that_cannot_be_used_is_one_failure_line_with_no_buttons(
    svc: Service, fake_model: FakeModelServer
) -> None:
    platform = await attach(svc)
    fake_model.script.queue("ParliamentReply", Reply(status=401, error_message="invalid api key"))
    reply = await svc.ingress.handle(think("delete the staging database"))
    assert reply is not None and reply.task_id is not None
    await _shown(svc, reply.task_id)
    parent = platform.parents()[0]
    thread = [p.current for p in platform.thread(parent.message_id)]
    failures = [m.text for m in thread if "model unavailable" in m.text]
    assert len(failures) == 1 and "rejected the API key" in failures[0] and "invalid api key" in failures[0]
    assert all(m.buttons == () for m in thread), "nothing to override: no Override/Cancel buttons"
    assert not any("Blocked" in m.text or "Override" in m.text for m in thread)
    assert "execute" not in fake_model.kinds()


async def _shown(svc: Service, task_id: str) -> None:
    """Wait until the task has finished and its thread shows the end. The status is stored just before
    the engine announces the end, so flushing the publisher on the status alone can flush too early."""

    async def done_posted() -> bool:
        return await svc.store.conversations.posted(task_id, "done") is not None

    await wait_until(lambda: _finished(svc, task_id))
    await wait_until(done_posted)
    await svc.publisher.flush(within=5)


async def _finished(svc: Service, task_id: str) -> bool:
    # The status is stored a moment before the finish is announced: wait for the job itself to end.
    return (await status_of(svc, task_id)).finished and f"task:{task_id}" not in svc.pool.active()


async def test_a_redelivery_creates_no_second_task_and_no_reply(svc: Service) -> None:
    await attach(svc)
    first = await svc.ingress.handle(think("count to three", key="evt-1"))
    again = await svc.ingress.handle(think("count to three", key="evt-1"))
    assert first is not None and again is None
    assert sum((await svc.store.tasks.counts()).values()) == 1


async def test_concurrent_redeliveries_make_exactly_one_task(svc: Service) -> None:
    await attach(svc)
    replies = await asyncio.gather(*[svc.ingress.handle(think("same", key="dup")) for _ in range(10)])
    assert sum(r is not None for r in replies) == 1
    assert sum((await svc.store.tasks.counts()).values()) == 1


async def test_access_control_refuses_privately_and_persists_nothing(svc: Service) -> None:
    await attach(svc, Access(allowed_users=["UALICE"]))
    refused = await svc.ingress.handle(think("do it", key="b1", actor=BOB))
    assert refused is not None and refused.private and "not allowed" in refused.text
    assert await svc.store.tasks.counts() == {}
    allowed = await svc.ingress.handle(think("do it", key="a1"))
    assert allowed is not None and allowed.task_id is not None


async def test_channel_allowlist_admits_everyone_in_that_channel(svc: Service) -> None:
    await attach(svc, Access(allowed_channels=["COPS"]))
    elsewhere = await svc.ingress.handle(think("x", key="1", actor=BOB, channel="CRANDOM"))
    inside = await svc.ingress.handle(think("x", key="2", actor=BOB, channel="COPS"))
    assert elsewhere is not None and elsewhere.task_id is None
    assert inside is not None and inside.task_id is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("help", "/think <task>"), ("", "/think <task>"), ("--simulte deploy", "did you mean --simulate")],
)
async def test_help_and_bad_flags_answer_privately_without_a_task(svc: Service, text: str, expected: str) -> None:
    await attach(svc)
    reply = await svc.ingress.handle(think(text))
    assert reply is not None and reply.private and expected in reply.text
    assert await svc.store.tasks.counts() == {}


async def test_flags_reach_the_task_options(svc: Service, fake_model: FakeModelServer) -> None:
    await attach(svc)
    reply = await svc.ingress.handle(think("plan the migration --simulate -i 2 --quality 0.7 --budget $1.5"))
    assert reply is not None and reply.task_id
    task = await svc.store.tasks.get(reply.task_id)
    assert task.description == "plan the migration"
    assert task.options.simulate and task.options.max_iterations == 2
    assert task.options.quality_threshold == 0.7 and task.options.max_cost_usd == 1.5


async def test_status_and_cancel_by_requester_only(svc: Service, fake_model: FakeModelServer) -> None:
    await attach(svc)
    guardian_blocks_next(fake_model)
    reply = await svc.ingress.handle(think("drop the prod table"))
    assert reply is not None and reply.task_id
    task_id = reply.task_id
    await wait_until(lambda: _awaiting(svc, task_id))
    status = await svc.ingress.handle(think("status", key="s1"))
    assert status is not None and task_id[:8] in status.text and "awaiting_confirmation" in status.text
    refused = await svc.ingress.handle(think(f"cancel {task_id[:6]}", key="c1", actor=BOB))
    assert refused is not None and refused.private and "Only the person who asked" in refused.text
    assert await status_of(svc, task_id) is TaskStatus.AWAITING_CONFIRMATION
    done = await svc.ingress.handle(think(f"cancel {task_id[:6]}", key="c2"))
    assert done is not None and "cancelled" in done.text
    assert await status_of(svc, task_id) is TaskStatus.CANCELLED


async def _awaiting(svc: Service, task_id: str) -> bool:
    return await status_of(svc, task_id) is TaskStatus.AWAITING_CONFIRMATION


async def blocked_task(svc: Service, fake_model: FakeModelServer, key: str = "blk") -> tuple[str, str]:
    guardian_blocks_next(fake_model)
    reply = await svc.ingress.handle(think("rotate every production credential", key=key))
    assert reply is not None and reply.task_id
    await wait_until(lambda: _awaiting(svc, reply.task_id or ""))
    pending = await svc.store.confirmations.pending_for_task(reply.task_id)
    assert pending is not None
    return reply.task_id, pending.id


async def test_self_approval_is_refused_by_default_and_the_refusal_names_the_setting(
    svc: Service, fake_model: FakeModelServer
) -> None:
    """Issue 8, defect 8: with no approvers configured, nobody (least of all the requester) may override."""
    await attach(svc)
    task_id, cid = await blocked_task(svc, fake_model)
    for who in (ALICE, BOB):
        refused = await svc.desk.decide(who, cid, approve=True)
        assert refused.private
        assert (
            f"[{PLATFORM}.access]" in refused.text and "approvers" in refused.text and "self_approval" in refused.text
        )
    assert await status_of(svc, task_id) is TaskStatus.AWAITING_CONFIRMATION
    assert (await svc.desk.decide(BOB, cid, approve=False)).private  # a stranger may not cancel it either
    cancelled = await svc.desk.decide(ALICE, cid, approve=False)  # stopping one's own task is always allowed
    assert not cancelled.private
    assert await status_of(svc, task_id) is TaskStatus.CANCELLED


async def test_self_approval_true_lets_the_requester_decide(svc: Service, fake_model: FakeModelServer) -> None:
    await attach(svc, Access(self_approval=True))
    task_id, cid = await blocked_task(svc, fake_model)
    refused = await svc.desk.decide(BOB, cid, approve=True)
    assert refused.private and "approvers" in refused.text
    ok = await svc.desk.decide(ALICE, cid, approve=True)
    assert not ok.private and "alice" in ok.text
    await wait_until(lambda: _finished(svc, task_id))
    assert await status_of(svc, task_id) is TaskStatus.DONE


async def test_an_approver_never_approves_their_own_task(svc: Service, fake_model: FakeModelServer) -> None:
    await attach(svc, Access(approvers=["UALICE", "UBOB"]))
    task_id, cid = await blocked_task(svc, fake_model)  # asked by alice
    refused = await svc.desk.decide(ALICE, cid, approve=True)
    assert refused.private and "Four eyes" in refused.text and "self_approval" in refused.text
    assert not (await svc.desk.decide(BOB, cid, approve=True)).private
    await wait_until(lambda: _finished(svc, task_id))
    assert await status_of(svc, task_id) is TaskStatus.DONE


async def test_configured_approvers_replace_the_requester(svc: Service, fake_model: FakeModelServer) -> None:
    await attach(svc, Access(approvers=["UBOB"]))
    task_id, cid = await blocked_task(svc, fake_model)
    assert (await svc.desk.decide(ALICE, cid, approve=True)).private
    assert not (await svc.desk.decide(BOB, cid, approve=False)).private
    assert await status_of(svc, task_id) is TaskStatus.CANCELLED


async def test_concurrent_presses_decide_once(svc: Service, fake_model: FakeModelServer) -> None:
    await attach(svc, Access(approvers=["UALICE", "UBOB"]))
    _, cid = await blocked_task(svc, fake_model)
    replies = await asyncio.gather(svc.desk.decide(ALICE, cid, True), svc.desk.decide(BOB, cid, False))
    assert sum(not r.private for r in replies) == 1
    row = await svc.store.confirmations.get(cid)
    assert row is not None and row.status in {"approved", "denied"}


async def test_text_fallback_approves_by_task_id_prefix(svc: Service, fake_model: FakeModelServer) -> None:
    platform = await attach(svc, Access(self_approval=True))
    task_id, cid = await blocked_task(svc, fake_model)
    reply = await svc.ingress.handle(think(f"approve {task_id[:6]}", key="ap"))
    assert reply is not None and not reply.private
    await _shown(svc, task_id)
    confirmation = await svc.store.conversations.posted(task_id, f"confirmation:{cid}")
    assert confirmation is not None
    shown = platform.messages[confirmation.message_id].current
    assert "Overridden" in shown.text and "alice" in shown.text and shown.buttons == ()


async def test_expiry_cancels_the_task_and_edits_the_message(
    fake_model: FakeModelServer, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    settings.parliament.confirmation_ttl_minutes = 0.003  # ~0.2 s
    async with running_service(settings, service_settings()) as svc:
        platform = await attach(svc)
        task_id, cid = await blocked_task(svc, fake_model)
        await _shown(svc, task_id)
        assert await status_of(svc, task_id) is TaskStatus.CANCELLED
        posted = await svc.store.conversations.posted(task_id, f"confirmation:{cid}")
        assert posted is not None
        shown = platform.messages[posted.message_id].current
        assert "Expired" in shown.text and shown.buttons == ()
        late = await svc.desk.decide(ALICE, cid, approve=True)
        assert late.private and "expired" in late.text


async def test_a_replayed_event_is_not_posted_twice(svc: Service) -> None:
    platform = await attach(svc)
    reply = await svc.ingress.handle(think("x"))
    assert reply is not None and reply.task_id
    task_id = reply.task_id
    await _shown(svc, task_id)
    before = len(platform.order)
    directive = Directive(stance="again", good_looks_like=["same"], constraints=[])
    await svc.engine.bus.publish(DirectiveReady(task_id, directive, False))
    await svc.publisher.flush(within=5)
    assert len(platform.order) == before


async def test_parent_status_edits_are_throttled_and_skip_identical_text(svc: Service) -> None:
    platform = await attach(svc)
    platform.edit_interval = 0.3
    reply = await svc.ingress.handle(think("y"))
    assert reply is not None and reply.task_id
    task_id = reply.task_id
    await _shown(svc, task_id)
    parent = platform.parents()[0]
    texts = [e.text for e in parent.edits]
    assert texts and "done" in texts[-1]
    assert len(texts) == len(set(texts)), "identical status text was sent again"
    assert len(texts) <= 4  # a task emits ~8 status changes; the 0.3 s throttle keeps only a few


class ListSource:
    """A job source over a list of names: each job waits for ``release``."""

    def __init__(self, names: list[str], release: asyncio.Event) -> None:
        self.waiting, self.release, self.started = list(names), release, list[str]()

    async def next_job(self, busy: Collection[str]) -> tuple[str, Job] | None:
        for name in self.waiting:
            if name not in busy:
                self.waiting.remove(name)
                return name, lambda name=name: self._run(name)
        return None

    async def _run(self, name: str) -> None:
        self.started.append(name)
        await self.release.wait()


async def test_workers_take_jobs_in_order_as_they_free_up_and_drain_reports_stragglers() -> None:
    release = asyncio.Event()
    source = ListSource(["a", "b", "c"], release)
    pool = WorkerPool(size=2, source=source, poll_seconds=0.05)
    pool.start()
    await wait_until(lambda: source.started == ["a", "b"])
    assert pool.idle == 0 and source.waiting == ["c"], "no worker free: c waits in the source, not in memory"
    source.waiting.append("d")
    left = await pool.drain(within=0.05)
    assert sorted(left) == ["a", "b"] and source.waiting == ["c", "d"]
    await pool.cancel_all()


async def test_an_idle_pool_takes_new_work_when_woken_or_at_its_next_look() -> None:
    release = asyncio.Event()
    release.set()
    source = ListSource([], release)
    pool = WorkerPool(size=1, source=source, poll_seconds=30)
    pool.start()
    await asyncio.sleep(0.05)
    source.waiting.append("woken")
    pool.wake()
    await wait_until(lambda: source.started == ["woken"], within=2)
    await pool.drain(within=1)
    polling = WorkerPool(size=1, source=source, poll_seconds=0.05)
    polling.start()
    source.waiting.append("missed")  # saved without a wake-up: the next look finds it
    await wait_until(lambda: source.started == ["woken", "missed"], within=2)
    await polling.drain(within=1)


async def test_recovery_runs_queued_fails_interrupted_and_keeps_pending(
    settings: Settings, fake_model: FakeModelServer
) -> None:
    async with running_service(settings, service_settings()) as svc:
        await attach(svc)
        await svc.pool.drain(within=0)  # the process dies before a worker takes anything
        queued = await svc.ingress.handle(think("queued one", key="q"))
        running = await svc.ingress.handle(think("running one", key="r"))
        assert queued and queued.task_id and running and running.task_id
        await svc.store.tasks.set_status(running.task_id, TaskStatus.RUNNING)
    async with running_service(settings, service_settings()) as svc2:
        platform = await attach(svc2)
        await svc2.recover()
        await wait_until(lambda: _finished(svc2, queued.task_id or ""))
        interrupted = await svc2.store.tasks.get(running.task_id)
        assert interrupted.status is TaskStatus.FAILED and "restarted" in (interrupted.error or "")
        await svc2.publisher.flush(within=5)
        assert any("restarted" in t for t in platform.texts())
        assert await status_of(svc2, queued.task_id) is TaskStatus.DONE


async def test_stop_drains_and_fails_what_does_not_finish(settings: Settings, fake_model: FakeModelServer) -> None:
    fake_model.latency = 2.0
    svc = Service(settings, service_settings(serve={"drain_seconds": 0.2}))
    await svc.start()
    platform = await attach(svc)
    reply = await svc.ingress.handle(think("slow one"))
    assert reply is not None and reply.task_id
    await wait_until(lambda: _started(svc, reply.task_id or ""))
    await svc.stop()
    async with running_service(settings, service_settings()) as again:
        task = await again.store.tasks.get(reply.task_id)
    assert task.status is TaskStatus.FAILED and "shut down" in (task.error or "")
    assert any("shut down" in t for t in platform.texts())
    with pytest.raises(NotAccepted, match="restarting"):  # not saved: redelivered to the next process
        await svc.ingress.handle(think("after", key="late"))


async def test_the_shutdown_drain_stops_waiting_for_a_platform_that_takes_nothing(
    settings: Settings, fake_model: FakeModelServer
) -> None:
    """Waiting for the threads' last messages is bounded by progress: a platform that takes none for ``stall``
    seconds ends the wait (and the service's stop) instead of holding it for the whole bound."""
    svc = Service(settings, service_settings(serve={"drain_seconds": 0.2}))
    await svc.start()
    platform = await attach(svc)
    platform.delay = 60.0  # every post hangs, the parent message first
    reply = await svc.ingress.handle(think("write a haiku", key="stall"))
    assert reply is not None and reply.task_id
    await wait_until(lambda: reply.task_id in svc.publisher.threads)
    started = asyncio.get_running_loop().time()
    assert await svc.publisher.drain(within=30, stall=0.5) == 1, "one thread still holds its messages"
    assert asyncio.get_running_loop().time() - started < 5
    started = asyncio.get_running_loop().time()
    await svc.stop()  # its own drain gives up after DRAIN_STALL_SECONDS (10), not POST_DRAIN_SECONDS (30)
    assert asyncio.get_running_loop().time() - started < 25
    assert platform.parents() == [], "nothing was posted after the outboxes closed"


async def _started(svc: Service, task_id: str) -> bool:
    return await status_of(svc, task_id) is TaskStatus.RUNNING


async def test_simulate_posts_the_futures_and_recommendation_instead_of_a_result(
    svc: Service, fake_model: FakeModelServer
) -> None:
    platform = await attach(svc)
    reply = await svc.ingress.handle(think("migrate the billing database --simulate"))
    assert reply is not None and reply.task_id
    task_id = reply.task_id
    await _shown(svc, task_id)
    joined = "\n".join(platform.texts())
    assert "Simulation" in joined and "Recommendation" in joined and "champion" in joined
    assert "risk" in joined and "consequence" in joined
    assert "execute" not in fake_model.kinds(), "a simulation must not execute"


async def test_an_approver_may_cancel_someone_elses_task(svc: Service, fake_model: FakeModelServer) -> None:
    await attach(svc, Access(approvers=["UBOB"]))
    task_id, _ = await blocked_task(svc, fake_model)
    carol = Actor(PLATFORM, "UCAROL", "carol")
    refused = await svc.ingress.handle(think(f"cancel {task_id[:6]}", key="c0", actor=carol))
    assert refused is not None and refused.private
    done = await svc.ingress.handle(think(f"cancel {task_id[:6]}", key="c1", actor=BOB))
    assert done is not None and "cancelled by bob" in done.text
    assert await status_of(svc, task_id) is TaskStatus.CANCELLED


async def test_an_override_approved_just_before_a_crash_continues_after_restart(
    settings: Settings, fake_model: FakeModelServer
) -> None:
    async with running_service(settings, service_settings()) as svc:
        await attach(svc)
        task_id, cid = await blocked_task(svc, fake_model)
        # The decision is recorded, then the process dies before the continuation runs.
        assert await svc.engine.decide_confirmation(task_id, cid, True, ALICE.label)
        assert await status_of(svc, task_id) is TaskStatus.AWAITING_CONFIRMATION
    async with running_service(settings, service_settings()) as svc2:
        await attach(svc2)
        await svc2.recover()
        await wait_until(lambda: _finished(svc2, task_id))
        assert await status_of(svc2, task_id) is TaskStatus.DONE
