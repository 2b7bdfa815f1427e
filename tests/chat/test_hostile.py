"""Hostile and broken HTTP requests: every endpoint answers 401 / 400 / 404 / 413, logs one warning
line and no traceback, and nothing is saved or posted.

Requests are written as raw bytes on a socket, so that headers can carry what a well-behaved client
library would refuse to send (non-ASCII bytes, lengths that lie). The service runs with the real
slack-bolt app and python-telegram-bot against their fakes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import pytest

from bots.chat.http_guard import MAX_BODY_BYTES
from bots.service import Service
from core.config import Settings
from tests.chat_service import running_service, service_settings
from tests.platforms.slack.fake_api import (
    FakeSlack,
    app_mention_event,
    block_action_body,
    block_action_payload,
    event_callback_body,
    signed_headers,
    slash_command_body,
    slash_command_payload,
)
from tests.platforms.telegram.fake_api import FakeTelegram, unexpected_updates
from tests.support import send_raw_http, until_idle

SECRET = "hostile-signing-secret"
TG_SECRET = "hostile-Webhook_secret"
SLACK = "/slack/events"
TELEGRAM = "/telegram/webhook"
DEEP = 10_000


@pytest.fixture
async def svc(settings: Settings) -> AsyncIterator[tuple[Service, FakeSlack, FakeTelegram]]:
    async with FakeSlack(bot_token="xoxb-hostile") as slack, FakeTelegram() as telegram:
        service = service_settings(
            slack={"bot_token": "xoxb-hostile", "signing_secret": SECRET, "api_url": slack.api_url},
            telegram={
                "bot_token": telegram.token,
                "api_url": telegram.base_url,
                "mode": "webhook",
                "webhook_secret": TG_SECRET,
                "webhook_url": "https://bot.example.com/telegram/webhook",
            },
        )
        async with running_service(settings, service) as running:
            yield running, slack, telegram


async def raw_post(
    port: int, path: str, headers: list[tuple[str, bytes]], body: bytes, *, length: int | None = None
) -> int:
    """POST ``body`` with exactly these header bytes; ``length`` may lie about the body's size
    (None: the true size; -1: no Content-Length, the body sent chunked). Returns the status."""
    chunked = length == -1
    reader, writer = await send_raw_http(port, "POST", path, headers, body, length=length, chunked=chunked)
    status_line = await reader.readline()
    writer.close()
    return int(status_line.split()[1])


def _h(headers: dict[str, str]) -> list[tuple[str, bytes]]:
    return [(k, v.encode()) for k, v in headers.items()]


def signed(body: bytes, *, json_body: bool = False) -> list[tuple[str, bytes]]:
    return _h(signed_headers(body, SECRET, json_body=json_body))


def signature(body: bytes, timestamp: str) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(SECRET.encode(), base, hashlib.sha256).hexdigest()


FORM = ("Content-Type", b"application/x-www-form-urlencoded")
JSON = ("Content-Type", b"application/json")
_command = slash_command_body(text="delete everything", trigger_id="trig-hostile")
_now = str(int(time.time()))
_deep = b'{"type": "event_callback", "x": ' + b"[" * DEEP + b"]" * DEEP + b"}"
_no_trigger = urlencode({k: v for k, v in slash_command_payload(text="x").items() if k != "trigger_id"}).encode()
_no_actions = urlencode({"payload": json.dumps({**block_action_payload("openkoi_approve", "c1"), "actions": []})})
_event_not_object = json.dumps({"type": "event_callback", "event_id": "Ev1", "event": 5}).encode()
_mention_no_channel = event_callback_body({k: v for k, v in app_mention_event("hi").items() if k != "channel"})
_deep_payload = b"payload=" + b"%5B" * DEEP + b"%5D" * DEEP

# (name, headers, body, expected status)
SLACK_CASES: list[tuple[str, list[tuple[str, bytes]], bytes, int]] = [
    ("unsigned", [FORM], _command, 401),
    ("wrong secret", _h(signed_headers(_command, "not-the-secret")), _command, 401),
    ("timestamp abc", [FORM, ("X-Slack-Request-Timestamp", b"abc"), ("X-Slack-Signature", b"v0=" + b"0" * 64)], _command, 401),
    ("timestamp in other digits", [FORM, ("X-Slack-Request-Timestamp", "١٧٠٠٠٠٠٠٠٠".encode()), ("X-Slack-Signature", signature(_command, _now).encode())], _command, 401),
    ("stale", _h(signed_headers(_command, SECRET, timestamp=int(time.time()) - 600)), _command, 401),
    ("non-ASCII signature", [FORM, ("X-Slack-Request-Timestamp", _now.encode()), ("X-Slack-Signature", "v0=é".encode() + b"\xff" * 62)], _command, 401),
    ("signature of other bytes", [FORM, ("X-Slack-Request-Timestamp", _now.encode()), ("X-Slack-Signature", signature(b"x", _now).encode())], _command, 401),
    ("invalid JSON", signed(b'{"type": "event_callback", ', json_body=True), b'{"type": "event_callback", ', 400),
    ("10,000-deep JSON", signed(_deep, json_body=True), _deep, 400),
    ("10,000-deep payload", signed(_deep_payload), _deep_payload, 400),
    ("payload not JSON", signed(b"payload=%7Bnope"), b"payload=%7Bnope", 400),
    ("not UTF-8", signed(b"text=\xff\xfe&command=/think"), b"text=\xff\xfe&command=/think", 400),
    ("JSON array", signed(b"[1, 2]", json_body=True), b"[1, 2]", 400),
    ("slash command without trigger_id", signed(_no_trigger), _no_trigger, 400),
    ("block_actions with empty actions", signed(_no_actions.encode()), _no_actions.encode(), 400),
    ("event that is not an object", signed(_event_not_object, json_body=True), _event_not_object, 400),
    ("mention without a channel", signed(_mention_no_channel, json_body=True), _mention_no_channel, 400),
    ("a kind we do not handle", signed(b'{"type": "view_submission"}', json_body=True), b'{"type": "view_submission"}', 404),
]  # fmt: skip

_update = json.dumps({"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}}})
_tg_deep = b'{"update_id": 5, "x": ' + b"[" * DEEP + b"]" * DEEP + b"}"
_bad_message = json.dumps({"update_id": 7, "message": 5}).encode()
TG = ("X-Telegram-Bot-Api-Secret-Token", TG_SECRET.encode())
TELEGRAM_CASES: list[tuple[str, list[tuple[str, bytes]], bytes, int]] = [
    ("missing secret", [JSON], _update.encode(), 401),
    ("wrong secret", [JSON, ("X-Telegram-Bot-Api-Secret-Token", b"wrong")], _update.encode(), 401),
    ("non-ASCII secret", [JSON, ("X-Telegram-Bot-Api-Secret-Token", TG_SECRET.encode() + b"\xff")], _update.encode(), 401),
    ("invalid JSON", [JSON, TG], b"{not json", 400),
    ("10,000-deep JSON", [JSON, TG], _tg_deep, 400),
    ("not an update", [JSON, TG], b'{"no_update_id": true}', 400),
    ("message that is not an object", [JSON, TG], _bad_message, 400),
]  # fmt: skip
# Shapes python-telegram-bot accepts but no handler of ours can read: authenticated, so answered 200 (Telegram
# would only deliver them again), and ignored with one warning line and no traceback.
TELEGRAM_ODD_CASES: list[tuple[str, list[tuple[str, bytes]], bytes, int]] = [
    (name, [JSON, TG], json.dumps(update).encode(), 200) for name, update in unexpected_updates(first_update_id=500)
]


def _one_clean_warning(records: list[logging.LogRecord], case: str) -> None:
    assert not [r for r in records if r.exc_info or "Traceback" in r.getMessage()], f"{case}: a traceback was logged"
    warnings = [r for r in records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, f"{case}: {[r.getMessage() for r in warnings]}"
    assert "\n" not in warnings[0].getMessage(), case


Case = tuple[str, list[tuple[str, bytes]], bytes, int]


async def _refused_cleanly(
    service: Service, caplog: pytest.LogCaptureFixture, path: str, cases: list[Case], length: int | None = None
) -> None:
    """Each case in turn (one service for all: starting one per case would cost more than the cases)."""
    for name, headers, body, expected in cases:
        caplog.clear()
        with caplog.at_level(logging.DEBUG):
            assert await raw_post(service.port, path, headers, body, length=length) == expected, name
            await until_idle(service)  # anything a handler would do after the answer
        _one_clean_warning(caplog.records, name)
    assert sum((await service.store.tasks.counts()).values()) == 0


async def test_slack_refuses_forged_and_malformed_requests(
    svc: tuple[Service, FakeSlack, FakeTelegram], caplog: pytest.LogCaptureFixture
) -> None:
    service, slack, _ = svc
    await _refused_cleanly(service, caplog, SLACK, SLACK_CASES)
    assert [c.method for c in slack.calls] == ["auth.test"], "nothing was posted"


async def test_telegram_webhook_refuses_unauthenticated_and_malformed_requests(
    svc: tuple[Service, FakeSlack, FakeTelegram], caplog: pytest.LogCaptureFixture
) -> None:
    service, _, telegram = svc
    await _refused_cleanly(service, caplog, TELEGRAM, TELEGRAM_CASES)
    assert not telegram.calls_to("sendMessage")


async def test_telegram_updates_of_an_unexpected_shape_are_ignored_without_a_traceback(
    svc: tuple[Service, FakeSlack, FakeTelegram], caplog: pytest.LogCaptureFixture
) -> None:
    service, _, telegram = svc
    await _refused_cleanly(service, caplog, TELEGRAM, TELEGRAM_ODD_CASES)
    assert not telegram.calls_to("sendMessage") and not telegram.calls_to("answerCallbackQuery")
    assert await service.store.inbound.task_for("telegram", "500") is None, "nothing was claimed"


async def test_oversize_bodies_get_413_on_every_endpoint(
    svc: tuple[Service, FakeSlack, FakeTelegram], caplog: pytest.LogCaptureFixture
) -> None:
    """Over the limit, whether the length is declared or the body just keeps coming (chunked).
    ``/healthz`` reads no body: a declared length over the limit is refused all the same."""
    service, _, _ = svc
    body = slash_command_body(text="x" * (MAX_BODY_BYTES + 10))
    slack: list[Case] = [("slack oversize", signed(body), body, 413)]
    telegram: list[Case] = [("telegram oversize", [JSON, TG], body, 413)]
    for chunked in (None, -1):
        await _refused_cleanly(service, caplog, SLACK, slack, length=chunked)
        await _refused_cleanly(service, caplog, TELEGRAM, telegram, length=chunked)
    await _refused_cleanly(service, caplog, "/healthz", [("healthz oversize", [JSON], body, 413)])


async def test_a_well_formed_signed_request_still_gets_through(svc: tuple[Service, FakeSlack, FakeTelegram]) -> None:
    """Control for the cases above: the same route, signed and well-formed, is answered."""
    service, slack, _ = svc
    press = block_action_body("openkoi_approve", "0123456789abcdef")
    assert await raw_post(service.port, SLACK, signed(press), press) == 200
    body = slash_command_body(text="help", trigger_id="trig-control", response_url=slack.response_url("control"))
    assert await raw_post(service.port, SLACK, signed(body), body) == 200


def test_slash_command_forms_are_read_as_bolt_reads_them() -> None:
    """``gate.form_fields`` (yarl's compiled parser) agrees with ``parse_qsl``, which Bolt uses, on
    random bodies of the characters that matter in a form: separators, escapes, '+', non-ASCII."""
    import random
    from urllib.parse import parse_qsl

    from bots.slack.gate import form_fields

    rng = random.Random(7)
    alphabet = "ab=&+%;#?/ 2FfE9\u00e9\u2713\udcff"
    bodies = [
        "a=1&a=2",
        "a=%FF&b=%zz",
        "a=1;b=2",
        "=x&y=",
        "&&a&&",
        "a=%",
        "a==b",
        "text=%3C%40U1%7Calice%3E+%26amp%3B",
    ]
    bodies += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24))) for _ in range(5000)]
    for body in bodies:
        assert form_fields(body) == dict(parse_qsl(body, keep_blank_values=True)), repr(body)
