"""Where webhooks go, from config.toml: ``[[webhooks]]`` entries (a secret or several, or a variable's; the events
they want), the seeds' ``[api.webhooks]`` shorthand signed with its own secret or one openkoi generates and keeps,
``[webhook_delivery]``; mistakes named by key without echoing a secret; every secret redacted while the webhooks
run."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bots.config import load_service_settings
from core.config import load_settings
from core.errors import ConfigError
from core.secrets import SECRETS, install_log_redaction
from core.store import Store
from integrations.webhooks.outgoing import shorthand_secret
from integrations.webhooks.settings import ApiWebhooks, configured_endpoints
from integrations.webhooks.signing import generate_secret
from tests.integrations.webhooks.support import endpoint, running_hooks

NEW, OLD, SHORT = generate_secret(), generate_secret(), generate_secret()

CONFIG = f"""
[[webhooks]]
name = "ci"
url = "https://ci.example.com/hooks/openkoi"
secret = ["{NEW}", "{OLD}"]
events = ["task.done", "task.blocked", "action.*"]

[[webhooks]]
url = "https://pager.example.com/in"
secret_env = "PAGER_WEBHOOK_SECRET"

[api]
[api.webhooks]
on_task_complete = "https://example.com/hooks/complete"
on_task_failed = "https://example.com/hooks/failed"
secret = "{SHORT}"

[webhook_delivery]
retry_schedule = [0, 1, 60]
timeout_seconds = 20
"""


def write(home: Path, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text, encoding="utf-8")


def test_config_toml_names_the_endpoints_their_secrets_and_events(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pager = generate_secret()
    monkeypatch.setenv("PAGER_WEBHOOK_SECRET", pager)
    write(home, CONFIG)
    load_settings()  # the engine's strict settings leave these sections to the service
    service = load_service_settings()
    assert service.webhook_delivery.retry_schedule == [0, 1, 60] and service.webhook_delivery.timeout_seconds == 20
    endpoints = {e.name: e for e in configured_endpoints(service.webhooks, service.api.webhooks)}
    pager_name = next(name for name in endpoints if name.startswith("pager.example.com-"))
    assert sorted(endpoints) == sorted(["ci", pager_name, "on_task_complete", "on_task_failed"])
    assert endpoints["ci"].secrets == (NEW, OLD)
    assert endpoints["ci"].wants("action.pending") and not endpoints["ci"].wants("task.failed")
    assert endpoints[pager_name].secrets == (pager,) and endpoints[pager_name].wants("budget.exhausted")
    assert endpoints["on_task_complete"].events == ("task.done",) and endpoints["on_task_complete"].secrets == (SHORT,)
    assert set(endpoints["on_task_failed"].events) == {
        "task.failed",
        "task.below_bar",
        "task.aborted",
        "task.escalated",
    }
    write(home, CONFIG)
    assert {e.name for e in configured_endpoints(load_service_settings().webhooks, ApiWebhooks())} == {
        "ci",
        pager_name,
    }, "a name made from the URL is the same at every load"


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        (
            'url = "https://a.example.com/"\nsecret = "{s}"\nevents = ["task.finished"]',
            "unknown event type 'task.finished'",
        ),
        ('url = "https://a.example.com/"', "every webhook is signed, but no secret is set"),
        ('url = "ftp://a.example.com/"\nsecret = "{s}"', "http:// or https://"),
        ('url = "https://a.example.com/"\nsecret = "whsec_c2hvcnQ="', "this one is 5"),
        ('url = "https://a.example.com/"\nsecret_env = "NOT_SET_ANYWHERE"', "the variable NOT_SET_ANYWHERE is empty"),
        ('url = "https://a.example.com/"\nsecret = "{s}"\nsecrte = "x"', "Extra inputs are not permitted"),
    ],
)
def test_a_mistake_is_named_by_its_key(home: Path, entry: str, says: str) -> None:
    write(home, "[[webhooks]]\n" + entry.format(s=NEW) + "\n")
    with pytest.raises(ConfigError, match=r"webhooks\.0") as raised:
        load_service_settings()
    assert says in str(raised.value)
    assert NEW.removeprefix("whsec_") not in str(raised.value)


def test_two_endpoints_may_not_share_a_name(home: Path) -> None:
    twice = f'[[webhooks]]\nname = "ci"\nurl = "https://a.example.com/"\nsecret = "{NEW}"\n'
    write(home, twice + twice.replace("a.example", "b.example"))
    with pytest.raises(ConfigError, match="webhook names must be unique"):
        load_service_settings()


async def test_without_a_secret_the_shorthand_gets_a_generated_one_kept_in_the_database(store: Store) -> None:
    api = ApiWebhooks(on_budget_warning="https://example.com/hooks/budget")
    first = await shorthand_secret(store, api)
    assert first is not None and first.startswith("whsec_")
    assert await shorthand_secret(store, api) == first, "generated once, then read back"
    [budget] = configured_endpoints([], api, first)
    assert (budget.name, budget.secrets, budget.events) == ("on_budget_warning", (first,), ("budget.exhausted",))
    configured = ApiWebhooks(on_budget_warning="https://example.com/hooks/budget", secret=SHORT)
    assert await shorthand_secret(store, configured) is None, "a configured secret is used; none is generated"
    assert await shorthand_secret(store, ApiWebhooks()) is None, "no shorthand, no secret"


async def test_secrets_are_redacted_from_the_logs_while_the_webhooks_run(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    install_log_redaction()
    with caplog.at_level(logging.INFO):
        async with running_hooks(store, [endpoint("http://127.0.0.1:9/h", secret=NEW)], start=False):
            logging.getLogger("test").info("the key is %s and alone %s", NEW, NEW.removeprefix("whsec_"))
    assert NEW.removeprefix("whsec_") not in caplog.text and "the key is [redacted] and alone [redacted]" in caplog.text
    assert SECRETS.redact(NEW) == NEW, "released when the webhooks stop"
