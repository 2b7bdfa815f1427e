"""Feedback and usage events in the core: one vote per person per task (a second press changes it),
what a vote moves (skill effectiveness, learning confidence, the usage event), and one usage event per
finished task with the right fields."""

from __future__ import annotations

from datetime import datetime

import pytest

from core.engine import Engine
from core.errors import NotFound
from core.feedback import CONFIDENCE_STEP, CannotRate, Vote, rate
from core.models import TaskOptions, TaskStatus
from core.skills.effectiveness import effectiveness_of
from core.store import Store
from core.store.conversations import CONVERSATION_INSERT, Conversation, conversation_row
from tests.fakes import scripts
from tests.fakes.model_server import FakeModelServer


async def _confidences(store: Store, task_id: str) -> list[float]:
    return [round(c, 4) for c in await store.feedback.learning_confidences(task_id)]


async def test_a_second_vote_by_the_same_person_changes_it_and_moves_every_figure(
    engine: Engine, model_env: FakeModelServer
) -> None:
    model_env.script.queue("Learnings", scripts.learnings("Release notes lead with breaking changes."))
    store = engine.store
    task = await engine.submit("Write the release notes", options=TaskOptions(skill="self-iterate"))
    assert (await engine.run(task.id)).status is TaskStatus.DONE
    assert await _confidences(store, task.id) == [0.8]

    async def effectiveness() -> float | None:
        return effectiveness_of("self-iterate", await store.skill_uses.outcomes(["self-iterate"])).value

    assert await effectiveness() == pytest.approx(0.9), "the final score alone, before any vote"

    first = await rate(store, task.id, "slack:U1", Vote.UP)
    assert (first.previous, first.changed, first.tally.up, first.tally.down) == (None, True, 1, 0)
    assert await _confidences(store, task.id) == [round(0.8 + CONFIDENCE_STEP, 4)]
    assert await effectiveness() == pytest.approx((0.9 + 1.0) / 2)

    again = await rate(store, task.id, "slack:U1", Vote.UP)  # the same button again: nothing more
    assert (again.previous, again.changed, again.tally.up) == (Vote.UP, False, 1)
    assert await _confidences(store, task.id) == [round(0.8 + CONFIDENCE_STEP, 4)]

    await rate(store, task.id, "slack:U2", Vote.UP)
    changed = await rate(store, task.id, "slack:U1", Vote.DOWN, note="missed the migration")
    assert (changed.previous, changed.changed, changed.tally.up, changed.tally.down) == (Vote.UP, True, 1, 1)
    # +1 step for U1's 👍, +1 for U2's, -2 for U1 turning 👍 into 👎: one 👍 and one 👎 cancel out.
    assert await _confidences(store, task.id) == [0.8]
    assert await effectiveness() == pytest.approx((0.9 + 0.5) / 2)
    await rate(store, task.id, "slack:U3", Vote.DOWN)
    assert await _confidences(store, task.id) == [round(0.8 - CONFIDENCE_STEP, 4)]
    await rate(store, task.id, "slack:U3", Vote.UP)  # changed back
    votes = {r.voter: (r.vote, r.note) for r in await store.feedback.for_task(task.id)}
    assert votes == {"slack:U1": (-1, "missed the migration"), "slack:U2": (1, None), "slack:U3": (1, None)}
    assert await _confidences(store, task.id) == [round(0.8 + CONFIDENCE_STEP, 4)]
    assert await effectiveness() == pytest.approx((0.9 + 2 / 3) / 2)
    event = await store.usage_events.get(task.id)
    assert event is not None and (event.feedback_up, event.feedback_down) == (2, 1)


async def test_only_a_finished_task_with_a_result_can_be_rated(engine: Engine, model_env: FakeModelServer) -> None:
    queued = await engine.submit("not started yet")
    with pytest.raises(CannotRate, match="is queued; rate it once it has finished"):
        await rate(engine.store, queued.id, "terminal:me", Vote.UP)
    await engine.cancel(queued.id, by="me")
    with pytest.raises(CannotRate, match="cancelled: it has no result to rate"):
        await rate(engine.store, queued.id, "terminal:me", Vote.UP)
    with pytest.raises(NotFound):
        await rate(engine.store, "0" * 16, "terminal:me", Vote.UP)
    assert await engine.store.feedback.for_task(queued.id) == []


async def test_every_finished_task_records_one_usage_event(engine: Engine, model_env: FakeModelServer) -> None:
    store = engine.store
    model_env.script.queue("Plan", scripts.plan(category="code-review"))
    model_env.script.queue("Evaluation", scripts.evaluation(6), scripts.evaluation(9))
    task = await engine.submit(
        "Refactor the openkoi planner module", options=TaskOptions(skill="self-iterate"), requester="dev"
    )
    result = await engine.run(task.id)
    assert (result.status, result.iterations) == (TaskStatus.DONE, 2)

    event = await store.usage_events.get(task.id)
    assert event is not None
    asked = task.created_at
    cost = sum(u.cost_usd for u in await store.usage.for_task(task.id))
    assert (event.category, event.skills, event.platform, event.channel, event.requester) == (
        "code-review", ("self-iterate",), "terminal", None, "dev"
    )  # fmt: skip
    assert (event.hour, event.weekday) == (asked.hour, asked.weekday())
    assert (event.iterations, event.score, event.outcome, event.decision) == (2, 0.9, "done", "accept")
    assert event.cost_usd == pytest.approx(cost) and (event.feedback_up, event.feedback_down) == (0, 0)
    assert datetime.fromisoformat(event.finished_at) >= asked

    # A chat task's event names its platform, channel and requester; a cancelled one still has one.
    chat = await engine.submit("queued in chat", source="slack", requester="Alice (slack:U9)")
    conversation = Conversation(chat.id, "slack", "C42", "U9", "Alice")
    await store.db.execute(CONVERSATION_INSERT, conversation_row(conversation))
    await engine.cancel(chat.id, by="Alice")
    cancelled = await store.usage_events.get(chat.id)
    assert cancelled is not None
    assert (cancelled.platform, cancelled.channel, cancelled.requester) == ("slack", "C42", "slack:U9")
    assert (cancelled.outcome, cancelled.iterations, cancelled.score, cancelled.skills) == ("cancelled", 0, None, ())
    assert await store.usage_events.count() == 2
