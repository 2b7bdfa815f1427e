"""Which engine events become which webhooks, and the payload they are sent as: ``{"type", "timestamp",
"version", "data"}``, the task's status deciding the type, a budget stop also a ``budget.exhausted``, the gate's
blocks and the actions' approvals with their fields, every secret redacted, a long output cut."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from core.events import (
    ActionApprovalNeeded,
    ActionDecided,
    ConfirmationResolved,
    Evaluated,
    Event,
    Notice,
    TaskFailed,
)
from core.models import LoopDecision, TaskStatus
from integrations.webhooks.events import EVENT_TYPES, OUTPUT_CHARS, TaskFacts, matches, payload, webhook_events
from tests import support
from tests.integrations.webhooks.support import finished

AT = datetime(2026, 1, 31, 10, 0, 0, 123456, tzinfo=UTC)


def types(event: Event) -> list[str]:
    return [w.type for w in webhook_events(event)]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (TaskStatus.DONE, "task.done"),
        (TaskStatus.BELOW_BAR, "task.below_bar"),
        (TaskStatus.ABORTED, "task.aborted"),
        (TaskStatus.ESCALATED, "task.escalated"),
        (TaskStatus.FAILED, "task.failed"),
        (TaskStatus.CANCELLED, "task.cancelled"),
    ],
)
def test_a_finished_task_is_typed_by_its_status(status: TaskStatus, expected: str) -> None:
    assert types(finished(status=status, decision=None)) == [expected]


def test_a_task_its_budget_stopped_is_also_a_budget_exhausted() -> None:
    event = finished(status=TaskStatus.ABORTED, decision=LoopDecision.ABORT_BUDGET)
    [aborted, budget] = webhook_events(event)
    assert (aborted.type, budget.type) == ("task.aborted", "budget.exhausted")
    assert budget.data == {"task_id": "t1", "tokens": 1200, "cost_usd": 0.0123, "reason": "accepted"}


def test_events_no_one_subscribes_to_make_no_webhook() -> None:
    # TaskFailed is always followed by a TaskFinished (status failed): one webhook for one failure, not two.
    for event in (Notice("t1", "hello"), TaskFailed("t1", "boom"), Evaluated("t1", 1, 0.5, None, False, False)):
        assert webhook_events(event) == []


def test_the_payload_is_type_timestamp_version_and_data_in_minified_json() -> None:
    [done] = webhook_events(finished(), TaskFacts("write a haiku", "slack"))
    body = payload(done, AT)
    assert " " not in body.replace("The answer.", "").replace("write a haiku", "")
    document = json.loads(body)
    assert document == {
        "type": "task.done",
        "timestamp": "2026-01-31T10:00:00.123Z",
        "version": 1,
        "data": {
            "task_id": "t1",
            "description": "write a haiku",
            "source": "slack",
            "status": "done",
            "decision": "accept",
            "score": 0.9,
            "bar": 0.8,
            "iterations": 2,
            "tokens": 1200,
            "cost_usd": 0.0123,
            "reason": "accepted",
            "output": "The answer.",
            "output_truncated": False,
        },
    }


def test_the_gate_and_the_actions_are_sent_with_their_fields() -> None:
    [pending] = webhook_events(
        ActionApprovalNeeded(
            "t1", "a1", "restart-worker", '{"name": "web"}', "it hangs", "write", ("deploy.restart",), "deploy",
            "2026-01-31T10:05:00+00:00", ("the floor matched",),
        )
    )  # fmt: skip
    assert pending.type == "action.pending"
    assert pending.data["approval_id"] == "a1" and pending.data["rules"] == ["deploy.restart"]
    assert pending.data["expires_at"] == "2026-01-31T10:05:00+00:00"
    [decided] = webhook_events(ActionDecided("t1", "a1", "restart-worker", "denied", "bob"))
    assert (decided.type, decided.data["status"], decided.data["decided_by"]) == ("action.decided", "denied", "bob")
    [resolved] = webhook_events(ConfirmationResolved("t1", "c1", True, "alice"))
    assert resolved.type == "task.block_decided" and resolved.data["approved"] is True


@pytest.fixture
def registered_secret() -> Iterator[str]:
    with support.registered_secret("hunter2-very-secret-token") as secret:
        yield secret


def test_every_string_is_redacted_and_a_long_output_cut_after_redaction(registered_secret: str) -> None:
    long = "x" * (OUTPUT_CHARS - 5) + registered_secret + "y" * 100
    [done] = webhook_events(finished(output=long), TaskFacts(f"deploy with {registered_secret}", "terminal"))
    body = payload(done, AT)
    assert registered_secret not in body and registered_secret[:5] not in body.replace("x", "")
    data = json.loads(body)["data"]
    assert data["description"] == "deploy with [redacted]"
    assert len(data["output"]) == OUTPUT_CHARS and data["output_truncated"] is True
    assert data["output"].endswith("x[reda")


def test_patterns_name_a_type_a_group_or_everything() -> None:
    assert matches("*", "action.pending") and matches("task.*", "task.done")
    assert not matches("task.*", "action.pending") and not matches("task.done", "task.done_x")
    assert all("." in name for name in EVENT_TYPES)
