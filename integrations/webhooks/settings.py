"""Where webhooks go and how hard openkoi tries: ``[[webhooks]]``, the seeds' ``[api.webhooks]`` shorthand and
``[webhook_delivery]`` in config.toml (read by ``bots.config``, which owns the service's sections).

    [[webhooks]]
    name = "ci"                                   # optional; default: the URL's host and a short hash of it
    url = "https://ci.example.com/hooks/openkoi"
    secret = "whsec_…"                            # or a list during a rotation: ["whsec_new…", "whsec_old…"]
    # secret_env = "CI_WEBHOOK_SECRET"            # or read it (them, space-separated) from a variable
    events = ["task.done", "task.blocked", "action.pending"]   # default: every type; "task.*" is a group

    [api.webhooks]                                # the seeds' shorthand: one endpoint per key that is set
    on_task_complete = "https://example.com/hooks/complete"    # task.done
    on_task_failed = "https://example.com/hooks/failed"        # task.failed, below_bar, aborted, escalated
    on_budget_warning = "https://example.com/hooks/budget"     # budget.exhausted
    secret = "whsec_…"                            # optional: without it openkoi generates one, keeps it in its
                                                  # database and prints it with `openkoi webhooks secret`

    [webhook_delivery]
    retry_schedule = [0, 5, 300, 1800, 7200, 18000, 36000, 36000]   # seconds before each attempt
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Annotated, Any, Self
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from integrations.webhooks.events import EVENT_TYPES, matches
from integrations.webhooks.signing import decode_secret

# The shorthand's keys and the event types each subscribes to. The engine emits no budget *warning* before a
# budget runs out, so ``on_budget_warning`` hears of the task its budget stopped.
SHORTHAND: dict[str, tuple[str, ...]] = {
    "on_task_complete": ("task.done",),
    "on_task_failed": ("task.failed", "task.below_bar", "task.aborted", "task.escalated"),
    "on_budget_warning": ("budget.exhausted",),
}
# The name the shorthand's generated secret is kept under (``core.store.webhooks``).
SHORTHAND_KEY = "api.webhooks"


class _Section(BaseModel):
    # A misspelt key in config.toml must be an error, not silently ignored.
    model_config = ConfigDict(extra="forbid")


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("a webhook URL is http:// or https:// with a host")
    return value


def _check_secrets(value: list[SecretStr]) -> list[SecretStr]:
    for secret in value:
        decode_secret(secret.get_secret_value())
    return value


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str | SecretStr) else value


Url = Annotated[str, AfterValidator(_check_url)]
# One secret, or a list of them during a rotation.
Secrets = Annotated[list[SecretStr], BeforeValidator(_as_list), AfterValidator(_check_secrets)]


class WebhookEndpointSettings(_Section):
    """One ``[[webhooks]]`` entry."""

    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    url: Url
    secret: Secrets = Field(default_factory=list)
    secret_env: str | None = None
    events: list[str] = Field(default_factory=lambda: ["*"], min_length=1)

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if not any(matches(pattern, known) for known in EVENT_TYPES):
                raise ValueError(f"unknown event type {pattern!r}; known: {', '.join(EVENT_TYPES)}")
        return value

    @model_validator(mode="after")
    def _signed(self) -> Self:
        if self.secret_env is not None:
            _check_secrets([SecretStr(text) for text in os.environ.get(self.secret_env, "").split()])
        if not self.signing_secrets():
            where = f"the variable {self.secret_env} is empty" if self.secret_env else "no secret is set"
            raise ValueError(f'every webhook is signed, but {where} (secret = "whsec_…")')
        return self

    def signing_secrets(self) -> list[str]:
        """The ``whsec_…`` secrets it is signed with: the configured ones, then the variable's."""
        listed = [s.get_secret_value() for s in self.secret]
        return listed + (os.environ.get(self.secret_env, "").split() if self.secret_env else [])

    @property
    def resolved_name(self) -> str:
        """Its name, or the URL's host and a short hash of the URL (stable while the URL is)."""
        if self.name is not None:
            return self.name
        return f"{urlsplit(self.url).hostname}-{hashlib.sha256(self.url.encode()).hexdigest()[:6]}"


def _unique_names(value: list[WebhookEndpointSettings]) -> list[WebhookEndpointSettings]:
    names = [entry.resolved_name for entry in value]
    twice = sorted({name for name in names if names.count(name) > 1} | (set(names) & set(SHORTHAND)))
    if twice:
        raise ValueError(f"webhook names must be unique (and not a shorthand key): {', '.join(twice)}")
    return value


WebhookList = Annotated[list[WebhookEndpointSettings], AfterValidator(_unique_names)]


class ApiWebhooks(_Section):
    """``[api.webhooks]``: the seeds' shorthand, one endpoint per key set (named after the key)."""

    on_task_complete: Url | None = None
    on_task_failed: Url | None = None
    on_budget_warning: Url | None = None
    secret: Secrets = Field(default_factory=list)

    def urls(self) -> dict[str, str]:
        """The keys that are set, and their URLs."""
        return {key: url for key in SHORTHAND if (url := getattr(self, key)) is not None}


class WebhookDelivery(_Section):
    """``[webhook_delivery]``: how each webhook is sent and retried."""

    # Seconds to wait before each attempt, the first counted from the event (the Standard Webhooks schedule:
    # immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h — about 27 hours in all). After the last, it failed.
    retry_schedule: list[float] = Field(
        default_factory=lambda: [0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0], min_length=1
    )
    # Each wait is drawn uniformly within ± this fraction of it, so that retries after an outage spread out.
    jitter: float = Field(0.2, ge=0, lt=1)
    timeout_seconds: float = Field(15.0, gt=0)  # the specification recommends 15 to 30 s
    concurrency: int = Field(4, ge=1, le=64)  # attempts in flight at once
    # How often the outbox is read for work that another process put there (`openkoi webhooks redeliver`).
    poll_seconds: float = Field(5.0, gt=0)
    # Finished deliveries and their attempts are kept this long, then pruned when the service starts.
    retention_days: float = Field(90.0, gt=0)

    @field_validator("retry_schedule")
    @classmethod
    def _non_negative(cls, value: list[float]) -> list[float]:
        if any(delay < 0 for delay in value):
            raise ValueError("retry delays are seconds, 0 or more")
        return value


@dataclass(frozen=True)
class Endpoint:
    """A configured endpoint as the outbox and the sender use it."""

    name: str
    url: str
    secrets: tuple[str, ...]  # whsec_…, each signs every attempt
    events: tuple[str, ...]  # patterns (``matches``)

    @property
    def keys(self) -> tuple[bytes, ...]:
        return tuple(decode_secret(secret) for secret in self.secrets)

    def wants(self, event_type: str) -> bool:
        return any(matches(pattern, event_type) for pattern in self.events)


def configured_endpoints(
    webhooks: list[WebhookEndpointSettings], api: ApiWebhooks, generated_secret: str | None = None
) -> list[Endpoint]:
    """Every endpoint: the ``[[webhooks]]`` entries, then the shorthand's, signed with ``[api.webhooks] secret``
    or, when that is not set, ``generated_secret``. Without either the shorthand's endpoints have no secret: good
    for listing them, never for sending (``signing.signed_headers`` refuses to send unsigned)."""
    endpoints = [
        Endpoint(entry.resolved_name, entry.url, tuple(entry.signing_secrets()), tuple(entry.events))
        for entry in webhooks
    ]
    secrets = tuple(s.get_secret_value() for s in api.secret) or ((generated_secret,) if generated_secret else ())
    endpoints += [Endpoint(key, url, secrets, SHORTHAND[key]) for key, url in api.urls().items()]
    return endpoints
