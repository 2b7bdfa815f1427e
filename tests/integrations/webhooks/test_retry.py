"""The retry schedule: the specification's waits by default, each drawn within its jitter bounds (and spread,
not fixed), a receiver's Retry-After lengthening a wait but never past the schedule, and no wait after the last."""

from __future__ import annotations

import random

import pytest

from integrations.webhooks.retry import RetrySchedule
from integrations.webhooks.settings import WebhookDelivery

SPEC = [0, 5, 300, 1800, 7200, 18000, 36000, 36000]  # immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h


def test_the_default_schedule_is_the_specifications() -> None:
    delivery = WebhookDelivery()
    assert delivery.retry_schedule == SPEC
    assert 0 < delivery.jitter < 1 and 15 <= delivery.timeout_seconds <= 30


@pytest.mark.parametrize("step", range(len(SPEC)))
def test_each_wait_is_within_its_jitter_bounds_and_spread(step: int) -> None:
    schedule = RetrySchedule(SPEC, jitter=0.2, rng=random.Random(step))
    low, high = schedule.bounds(step)
    assert (low, high) == pytest.approx((SPEC[step] * 0.8, SPEC[step] * 1.2))
    waits = [schedule.wait(step) for _ in range(500)]
    assert all(w is not None and low <= w <= high for w in waits)
    if SPEC[step]:
        assert len({round(w or 0, 6) for w in waits}) > 400, "jittered: not the same wait every time"
        # Uniform over the interval: both halves are used.
        assert min(w or 0 for w in waits) < SPEC[step] < max(w or 0 for w in waits)


def test_without_jitter_each_wait_is_exactly_as_listed() -> None:
    schedule = RetrySchedule([0, 0.5, 2], jitter=0)
    assert [schedule.wait(step) for step in range(3)] == [0, 0.5, 2]


def test_after_the_last_attempt_there_is_no_wait() -> None:
    schedule = RetrySchedule(SPEC)
    assert schedule.attempts == 8
    assert schedule.wait(8) is None and schedule.wait(20) is None


def test_retry_after_lengthens_a_wait_up_to_the_longest_never_shortens_it() -> None:
    schedule = RetrySchedule([0, 5, 60], jitter=0)
    assert schedule.wait(1, retry_after=30) == 30
    assert schedule.wait(1, retry_after=1) == 5
    assert schedule.wait(1, retry_after=86400) == 60


def test_the_schedule_is_a_setting_and_is_checked() -> None:
    assert WebhookDelivery(retry_schedule=[0, 0.1]).retry_schedule == [0, 0.1]
    with pytest.raises(ValueError, match="0 or more"):
        WebhookDelivery(retry_schedule=[0, -1])
    with pytest.raises(ValueError):
        WebhookDelivery(retry_schedule=[])
