"""Prometheus metrics for `openkoi serve` at ``GET /metrics`` (the Prometheus text format, prometheus-client).

Owns: the service's metric registry and its metrics (``meter``), the bus subscriber that counts tasks, phases,
gate decisions and actions (``events``), and the scrape with its access rule (``endpoint``). ``attach`` wires them
into a running service: the bus, the model-usage records, the chat layer's answers, the scheduled jobs, the route.

What is exported (counters end in ``_total``; histograms have ``_bucket``/``_sum``/``_count``):

- ``openkoi_tasks_started_total{platform}``, ``openkoi_tasks_finished_total{platform,outcome}``,
  ``openkoi_task_duration_seconds{platform,outcome}``, ``openkoi_task_phase_duration_seconds{phase}``
- ``openkoi_model_calls_total{model}``, ``openkoi_model_tokens_total{model,kind}``,
  ``openkoi_model_cost_usd_total{model}``, ``openkoi_model_call_duration_seconds{model}``
- ``openkoi_gate_decisions_total{kind,outcome}``, ``openkoi_gate_rule_matches_total{kind,rule,outcome}``
- ``openkoi_action_reviews_total{tool,decision}``, ``openkoi_action_approvals_total{tool,status}``,
  ``openkoi_actions_total{tool,outcome}``, ``openkoi_action_duration_seconds{tool}``
- ``openkoi_queue_depth{platform}``, ``openkoi_queue_oldest_age_seconds{platform}``,
  ``openkoi_platform_connected{platform}`` (read at scrape time)
- ``openkoi_ack_latency_seconds{platform,kind}``
- ``openkoi_scheduler_job_runs_total{job,outcome}``, ``openkoi_scheduler_job_duration_seconds{job}``
- ``openkoi_webhook_deliveries_total{outcome}``

Adding a metric elsewhere in the service: create it with ``registry=service.metrics.registry``. The outgoing
webhooks count their deliveries through ``ServiceMetrics.webhook_delivered`` (given to them as a callable: code in
``integrations/`` never imports ``bots``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from aiohttp import web

from bots.chat.desk import ConfirmationDesk
from bots.chat.ingress import Ingress
from bots.config import ServeSettings
from bots.metrics.endpoint import MetricsAccess, MetricsEndpoint
from bots.metrics.events import EventMeter
from bots.metrics.meter import ServiceMetrics
from core.events import EventBus
from core.store import Store

__all__ = ["MetricsAccess", "ServiceMetrics", "attach"]


def attach(
    metrics: ServiceMetrics,
    serve: ServeSettings,
    *,
    app: web.Application,
    bus: EventBus,
    store: Store,
    ingress: Ingress,
    desk: ConfirmationDesk,
    platforms: Callable[[], Mapping[str, bool]],
) -> MetricsAccess:
    """Feed ``metrics`` from a service's parts and serve them on ``app`` as ``serve`` allows; returns the access
    rule in force (its ``why`` is the start-up line). When metrics are off nothing is counted either."""
    access = MetricsAccess.of(serve)
    if access.mode == "off":
        return access
    metrics.know_platforms(platforms())
    bus.subscribe(EventMeter(metrics, store))
    store.usage.observers.append(metrics.model_called)
    ingress.on_answer = metrics.answered
    desk.on_answer = metrics.answered
    MetricsEndpoint(metrics, access, store, platforms).add_route(app)
    return access
