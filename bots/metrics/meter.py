"""Every metric `openkoi serve` exports, in one registry of its own (never prometheus-client's global one, so two
services in one process — as in tests — never share figures), and the small hooks that feed them.

Names, labels and what moves them are listed in ``bots.metrics``' docstring and in the README; the bus events are
counted by ``bots.metrics.events``, the scrape itself is ``bots.metrics.endpoint``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from bots.chat.acks import AckKind
from core.models import TaskStatus, utcnow
from core.store.queue import Backlog
from core.store.usage import ModelCall
from scheduler.runs import JobFunc, JobRun

# Histogram buckets, in seconds, for what each one times.
ACK_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
TASK_SECONDS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
PHASE_SECONDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
MODEL_SECONDS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
ACTION_SECONDS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
JOB_SECONDS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)


class ServiceMetrics:
    """The service's metrics. Built once per ``Service``; ``registry`` is what ``/metrics`` exposes.

    Another part of the service adds a metric of its own by creating it with ``registry=metrics.registry``
    (prometheus-client's usual way); webhook deliveries already have theirs: call ``webhook_delivered``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.tasks_started = Counter(
            "openkoi_tasks_started",
            "Task runs started (a task continued after an override starts again).",
            ["platform"],
            registry=r,
        )
        self.tasks_finished = Counter(
            "openkoi_tasks_finished",
            "Tasks that ended, by where they were asked and how they ended.",
            ["platform", "outcome"],
            registry=r,
        )
        self.task_seconds = Histogram(
            "openkoi_task_duration_seconds",
            "From a task run's start to its end, by platform and outcome.",
            ["platform", "outcome"],
            buckets=TASK_SECONDS,
            registry=r,
        )
        self.phase_seconds = Histogram(
            "openkoi_task_phase_duration_seconds",
            "How long each phase of a task took: recall, directive, parliament, simulate, plan, execute, evaluate.",
            ["phase"],
            buckets=PHASE_SECONDS,
            registry=r,
        )
        self.model_calls = Counter(
            "openkoi_model_calls", "Model calls answered (and recorded), by model.", ["model"], registry=r
        )
        self.model_tokens = Counter(
            "openkoi_model_tokens",
            "Tokens of the model calls, by model and kind (prompt, completion).",
            ["model", "kind"],
            registry=r,
        )
        self.model_cost = Counter(
            "openkoi_model_cost_usd",
            "What the model calls cost in US dollars, by model (0 for unpriced models).",
            ["model"],
            registry=r,
        )
        self.model_seconds = Histogram(
            "openkoi_model_call_duration_seconds",
            "How long a model call took to answer, by model.",
            ["model"],
            buckets=MODEL_SECONDS,
            registry=r,
        )
        self.gate_decisions = Counter(
            "openkoi_gate_decisions",
            "Decisions at the gate, by kind (task, action) and outcome: the gate's own (task: proceeded, suggest, "
            "blocked, autonomous; action: run, ask, deny) and a person's or the clock's later decision "
            "(task: overridden, denied, expired; action: allowed_once, allowed_always, denied, expired).",
            ["kind", "outcome"],
            registry=r,
        )
        self.gate_rules = Counter(
            "openkoi_gate_rule_matches",
            "Floor rules that matched a task or an action, by rule and the gate's outcome (one per rule matched).",
            ["kind", "rule", "outcome"],
            registry=r,
        )
        self.action_reviews = Counter(
            "openkoi_action_reviews",
            "Tool calls the agent proposed, by tool and the gate's decision (run, ask, deny).",
            ["tool", "decision"],
            registry=r,
        )
        self.action_approvals = Counter(
            "openkoi_action_approvals",
            "Approvals asked of a person, by tool and what became of them (allowed_once, allowed_always, denied, "
            "expired).",
            ["tool", "status"],
            registry=r,
        )
        self.actions = Counter(
            "openkoi_actions",
            "Tool calls that ran, by tool and outcome (ok, error, timeout).",
            ["tool", "outcome"],
            registry=r,
        )
        self.action_seconds = Histogram(
            "openkoi_action_duration_seconds",
            "How long a tool call that ran took, by tool.",
            ["tool"],
            buckets=ACTION_SECONDS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "openkoi_queue_depth",
            "Chat tasks saved and waiting for a worker, by platform (read at scrape time).",
            ["platform"],
            registry=r,
        )
        self.queue_oldest = Gauge(
            "openkoi_queue_oldest_age_seconds",
            "Age of the oldest queued chat task, by platform; 0 when none waits (read at scrape time).",
            ["platform"],
            registry=r,
        )
        self.platform_connected = Gauge(
            "openkoi_platform_connected",
            "1 while a chat platform is connected, 0 otherwise (as /readyz says).",
            ["platform"],
            registry=r,
        )
        self.ack_seconds = Histogram(
            "openkoi_ack_latency_seconds",
            "How long openkoi took to answer a delivered command or button press (what the platform's "
            "acknowledgement waits on), by platform and kind (command, press).",
            ["platform", "kind"],
            buckets=ACK_SECONDS,
            registry=r,
        )
        self.job_runs = Counter(
            "openkoi_scheduler_job_runs",
            "Scheduled job runs, by job and outcome (ok, failed, interrupted).",
            ["job", "outcome"],
            registry=r,
        )
        self.job_seconds = Histogram(
            "openkoi_scheduler_job_duration_seconds",
            "How long a scheduled job's run took, by job.",
            ["job"],
            buckets=JOB_SECONDS,
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "openkoi_webhook_deliveries", "Outgoing webhook delivery attempts, by outcome.", ["outcome"], registry=r
        )

    def know_platforms(self, platforms: Iterable[str]) -> None:
        """Show every finished outcome of ``platforms`` from the start (at 0), so a rate over them is defined."""
        for platform in platforms:
            self.tasks_started.labels(platform)
            for status in TaskStatus.FINISHED:
                self.tasks_finished.labels(platform, status.value)

    # Hooks --------------------------------------------------------------------------------------------

    def answered(self, platform: str, kind: AckKind, seconds: float) -> None:
        """``bots.chat.acks.AckObserver``: one command or press answered."""
        self.ack_seconds.labels(platform, kind).observe(seconds)

    def model_called(self, call: ModelCall) -> None:
        """A ``UsageRepository`` observer: one model call recorded."""
        self.model_calls.labels(call.model).inc()
        self.model_tokens.labels(call.model, "prompt").inc(call.prompt_tokens)
        self.model_tokens.labels(call.model, "completion").inc(call.completion_tokens)
        self.model_cost.labels(call.model).inc(max(call.cost_usd, 0.0))
        self.model_seconds.labels(call.model).observe(call.latency_ms / 1000)

    def webhook_delivered(self, outcome: str) -> None:
        """Count one webhook delivery attempt by its outcome (the webhooks' own words: e.g. delivered, failed,
        disabled). The outgoing webhooks are given this method as a plain callable; they import nothing here."""
        self.webhook_deliveries.labels(outcome).inc()

    def count_jobs(self, jobs: Mapping[str, JobFunc]) -> dict[str, JobFunc]:
        """``jobs`` with every run counted and timed: ok (it returned), failed (it raised), interrupted (stopped)."""
        return {name: self._counted(name, job) for name, job in jobs.items()}

    def _counted(self, name: str, job: JobFunc) -> JobFunc:
        async def run(job_run: JobRun) -> str:
            started, outcome = time.perf_counter(), "failed"
            try:
                detail = await job(job_run)
                outcome = "ok"
                return detail
            except asyncio.CancelledError:
                outcome = "interrupted"
                raise
            finally:
                self.job_runs.labels(name, outcome).inc()
                self.job_seconds.labels(name).observe(time.perf_counter() - started)

        return run

    def show_backlog(self, platforms: Iterable[str], backlog: Iterable[Backlog], now: datetime | None = None) -> None:
        """Set the queue gauges from ``QueueRepository.backlog``: every platform listed, 0 where nothing waits."""
        moment = now or utcnow()
        self.queue_depth.clear()
        self.queue_oldest.clear()
        for platform in platforms:
            self.queue_depth.labels(platform).set(0)
            self.queue_oldest.labels(platform).set(0)
        for row in backlog:
            self.queue_depth.labels(row.platform).set(row.queued)
            try:
                age = (moment - datetime.fromisoformat(row.oldest_created_at)).total_seconds()
            except ValueError:  # not written by openkoi: the depth still counts
                age = 0.0
            self.queue_oldest.labels(row.platform).set(max(age, 0.0))

    def show_platforms(self, connected: Mapping[str, bool]) -> None:
        self.platform_connected.clear()
        for platform, up in connected.items():
            self.platform_connected.labels(platform).set(1 if up else 0)
