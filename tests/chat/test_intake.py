"""An acknowledgement means saved, and one bad command fails alone.

The database is made slow the way a busy disk or a backup makes it: another connection holds
SQLite's write lock (``BEGIN IMMEDIATE``). Commands arrive through the real SDKs (slack-bolt over
HTTP, python-telegram-bot polling and webhook) against the fakes of their APIs.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bots.chat import ingress as ingress_module
from bots.chat.intake import NOT_ACCEPTED_TEXT
from bots.chat.platform import Actor, InboundCommand
from bots.config import ServiceSettings
from bots.service import Service
from core.config import Settings
from tests.chat_service import running_service, service_settings, wait_until
from tests.platforms.slack.fake_api import (
    BOT_USER_ID,
    FakeSlack,
    app_mention_event,
    event_callback_body,
    signed_headers,
    slash_command_body,
)
from tests.platforms.telegram.fake_api import FakeTelegram
from tests.support import until_idle

SECRET = "intake-signing-secret"
GROUP = -100555
ALICE = 42
FAST = 0.5  # a shorter save deadline, where the deadline itself is not under test
LONE = "\ud800"  # a lone UTF-16 surrogate: valid in JSON ("\\ud800"), not encodable as UTF-8


@contextmanager
def write_locked(db: Path) -> Iterator[sqlite3.Connection]:
    """Hold SQLite's write lock from another connection, as another process (or a slow disk) would."""
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield other
    finally:
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()


async def task_count(svc: Service) -> int:
    return sum((await svc.store.tasks.counts()).values())


# ---------------------------------------------------------------- Slack


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(bot_token="xoxb-intake") as fake:
        yield fake


def slack_service(fake: FakeSlack) -> ServiceSettings:
    return service_settings(slack={"bot_token": "xoxb-intake", "signing_secret": SECRET, "api_url": fake.api_url})


async def post(svc: Service, body: bytes, headers: dict[str, str]) -> tuple[int, str, float]:
    started = time.monotonic()
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"http://127.0.0.1:{svc.port}/slack/events", data=body, headers=headers) as response,
    ):
        return response.status, await response.text(), time.monotonic() - started


async def test_a_slash_command_that_cannot_be_saved_in_time_is_not_accepted(
    settings: Settings, slack: FakeSlack
) -> None:
    async with running_service(settings, slack_service(slack)) as svc:
        command = slash_command_body(text="deploy the fix", trigger_id="trig-locked")
        with write_locked(settings.db_path):
            status, body, elapsed = await post(svc, command, signed_headers(command, SECRET))
        assert status == 200 and elapsed < 3.0, "Slack gives up after 3 s"
        assert body == NOT_ACCEPTED_TEXT and "Got it" not in body
        assert await task_count(svc) == 0
        assert await svc.store.inbound.task_for("slack", "trig-locked") is None

        # The person tries again (a new trigger): saved now, and answered with the task.
        again = slash_command_body(text="deploy the fix", trigger_id="trig-again")
        status, body, _ = await post(svc, again, signed_headers(again, SECRET))
        task_id = await svc.store.inbound.task_for("slack", "trig-again")
        assert status == 200 and task_id is not None and task_id[:8] in body


async def test_a_mention_that_cannot_be_saved_gets_503_and_its_retry_is_saved_once(
    settings: Settings, slack: FakeSlack
) -> None:
    async with running_service(settings, slack_service(slack)) as svc:
        svc.ingress.save_within = FAST  # how long is not the point here
        event = app_mention_event(f"<@{BOT_USER_ID}> summarise the incident", ts="1700000000.000900")
        body = event_callback_body(event, event_id="EvLocked")
        with write_locked(settings.db_path):
            status, _, elapsed = await post(svc, body, signed_headers(body, SECRET, json_body=True))
        assert status == 503 and elapsed < 3.0, "not saved: Slack must deliver it again"
        assert await task_count(svc) == 0
        await until_idle(svc)
        assert not slack.calls_to("chat.postMessage"), "nothing is answered for an event that was not saved"

        retry = signed_headers(body, SECRET, json_body=True, retry_num=1, retry_reason="http_error")
        assert (await post(svc, body, retry))[0] == 200
        assert await svc.store.inbound.task_for("slack", "EvLocked") is not None
        assert (await post(svc, body, signed_headers(body, SECRET, json_body=True, retry_num=2)))[0] == 200
        assert await task_count(svc) == 1
        await slack.wait_for_calls("chat.postMessage", 1)
        answers = [m for m in slack.messages if m.thread_ts == "1700000000.000900"]
        assert len(answers) == 1, "one answer for one saved mention"


async def test_a_command_still_being_saved_is_answered_in_time_then_for_real(
    settings: Settings, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database's one thread is busy (a long statement queued before the batch): the command is
    acknowledged by its deadline without a claim, and once it is saved, the real answer follows."""
    monkeypatch.setattr("bots.chat.intake.IN_FLIGHT_GRACE", 0.1)
    async with running_service(settings, slack_service(slack)) as svc:
        svc.ingress.save_within = 0.2
        busy = asyncio.ensure_future(svc.store.db.read_batch(lambda conn: time.sleep(1.5)))
        await asyncio.sleep(0.05)  # the long statement has the connection's thread
        command = slash_command_body(
            text="deploy the fix", trigger_id="trig-busy", response_url=slack.response_url("trig-busy")
        )
        status, body, elapsed = await post(svc, command, signed_headers(command, SECRET))

        assert status == 200 and elapsed < 1.0, "answered before the database was free"
        assert "taking longer than usual" in body and "task" not in body.lower()
        await busy
        await wait_until(lambda: bool(slack.responses_to("trig-busy")))
        task_id = await svc.store.inbound.task_for("slack", "trig-busy")
        (answer,) = slack.responses_to("trig-busy")
        assert task_id is not None and task_id[:8] in answer["text"] and answer["response_type"] == "ephemeral"


# ---------------------------------------------------------------- Telegram


def telegram_service(fake: FakeTelegram, serve: dict[str, Any] | None = None, **extra: Any) -> ServiceSettings:
    return service_settings(serve=serve or {}, telegram={"bot_token": fake.token, "api_url": fake.base_url, **extra})


def acks(fake: FakeTelegram) -> list[str]:
    return [c["text"] for c in fake.calls_to("sendMessage") if c.get("parse_mode") is None]


async def test_polling_confirms_an_update_only_once_it_is_saved(settings: Settings, telegram: FakeTelegram) -> None:
    service = telegram_service(telegram)
    svc = Service(settings, service)
    await svc.start()
    try:
        with write_locked(settings.db_path):
            svc.ingress.save_within = FAST
            updates = [telegram.push_message(GROUP, ALICE, f"/think job {n}", first_name="Alice") for n in range(3)]
            # Fetched, not saved (the deadline passes), fetched again after a pause: never confirmed.
            await wait_until(lambda: len(telegram.calls_to("getUpdates")) >= 3, within=10)
            assert telegram.pending_updates == 3
            assert acks(telegram) == [] and await task_count(svc) == 0
            # Stopped (as for a restart) with the database still stalled: still nothing confirmed.
            await svc.stop()
            assert telegram.pending_updates == 3
    finally:
        if svc.store.db._conn is not None:
            await svc.stop()
    async with running_service(settings, service) as svc:
        for update_id in updates:
            await wait_until(lambda u=update_id: _task_for(svc, "telegram", str(u)))
        await wait_until(lambda: len(acks(telegram)) == 3)
        await wait_until(lambda: telegram.pending_updates == 0)
        assert await task_count(svc) == 3


async def _task_for(svc: Service, platform: str, key: str) -> bool:
    return await svc.store.inbound.task_for(platform, key) is not None


async def test_the_webhook_answers_only_after_the_save(settings: Settings, telegram: FakeTelegram) -> None:
    service = telegram_service(
        telegram, mode="webhook", webhook_secret="wh-Secret_1", webhook_url="https://bot.example.com/telegram/webhook"
    )
    async with running_service(settings, service) as svc:
        svc.ingress.save_within = FAST
        url = f"http://127.0.0.1:{svc.port}/telegram/webhook"
        update = telegram.update_payload(GROUP, ALICE, "/think rotate the logs", first_name="Alice")
        with write_locked(settings.db_path):
            started = time.monotonic()
            status, _ = await telegram.post_webhook(update, url)
            assert status == 503 and time.monotonic() - started < 5
        assert await task_count(svc) == 0 and acks(telegram) == []
        assert (await telegram.post_webhook(update, url))[0] == 200  # Telegram's redelivery
        # The 200 came after the save: the task is there the moment the answer is.
        assert await svc.store.inbound.task_for("telegram", str(update["update_id"])) is not None
        await wait_until(lambda: len(acks(telegram)) == 1)


async def test_one_unstorable_command_among_many_fails_alone(
    settings: Settings, slack: FakeSlack, telegram: FakeTelegram
) -> None:
    """A burst held up by a busy database is written as one batch; in it, a Slack mention and a
    Telegram message carry a lone surrogate (valid JSON, not storable as is). They are stored with
    U+FFFD, and every other command of the burst is saved and answered too."""
    service = service_settings(
        serve={"queue_limit_per_user": 100, "queue_limit_per_channel": 100},
        slack={"bot_token": "xoxb-intake", "signing_secret": SECRET, "api_url": slack.api_url},
        telegram={"bot_token": telegram.token, "api_url": telegram.base_url},
    )
    async with running_service(settings, service) as svc:
        await svc.pool.drain(within=0)  # only intake is under test: keep the tasks queued
        mention = app_mention_event(f"<@{BOT_USER_ID}> broken {LONE} mention", ts="1700000000.000700")
        mention_body = event_callback_body(mention, event_id="EvLone")
        with write_locked(settings.db_path) as lock:
            slashes = []
            for n in range(30):
                body = slash_command_body(text=f"ordinary job {n}", trigger_id=f"trig-{n}")
                slashes.append(asyncio.create_task(post(svc, body, signed_headers(body, SECRET))))
            lone = asyncio.create_task(post(svc, mention_body, signed_headers(mention_body, SECRET, json_body=True)))
            texts = [f"/think ordinary telegram job {n}" for n in range(10)]
            texts[4] = f"/think broken {LONE} telegram job"
            updates = [telegram.push_message(GROUP, ALICE, text, first_name="Alice") for text in texts]
            await asyncio.sleep(0.8)  # everything is now waiting for the same write
            lock.execute("ROLLBACK")
            answers = await asyncio.gather(*slashes)
            assert (await lone)[0] == 200
        assert all(status == 200 and re.search(r"[Tt]ask [0-9a-f]{8}", body) for status, body, _ in answers), answers[
            :2
        ]
        for update_id in updates:
            await wait_until(lambda u=update_id: _task_for(svc, "telegram", str(u)))
        await wait_until(lambda: len(acks(telegram)) == 10)
        assert await task_count(svc) == 30 + 1 + 10
        odd = await svc.store.inbound.task_for("slack", "EvLone")
        assert odd is not None and (await svc.store.tasks.get(odd)).description == "broken \ufffd mention"
        odd = await svc.store.inbound.task_for("telegram", str(updates[4]))
        assert odd is not None and (await svc.store.tasks.get(odd)).description == "broken \ufffd telegram job"
        await slack.wait_for_calls("chat.postMessage", 1)  # the mention is answered in its thread


async def test_a_failed_group_commit_is_retried_one_command_at_a_time(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Should text ever reach the database unstorable, the batch is written again command by command:
    only the bad one fails, with an answer, and the others are saved."""
    monkeypatch.setattr(ingress_module, "storable", lambda text: text)  # switch the first defence off
    limits = {"queue_limit_per_user": 100, "queue_limit_per_channel": 100}
    async with running_service(settings, service_settings(serve=limits)) as svc:
        await svc.pool.drain(within=0)
        alice = Actor("slack", "UALICE", "alice")
        commands = [InboundCommand("slack", f"k{n}", alice, "C1", f"job {n}") for n in range(30)]
        commands[11] = InboundCommand("slack", "k11", alice, "C1", f"job {LONE}")
        with caplog.at_level(logging.WARNING):
            replies = await asyncio.gather(*(svc.ingress.handle(c) for c in commands))
        bad = replies[11]
        assert bad is not None and bad.task_id is None and "could not be saved" in bad.text
        assert all(r is not None and r.task_id for n, r in enumerate(replies) if n != 11)
        assert await task_count(svc) == 29
        assert await svc.store.inbound.task_for("slack", "k11") is None
        assert any("one by one" in r.getMessage() for r in caplog.records), "the fallback really ran"
        assert not [r for r in caplog.records if r.exc_info], "the sender's bad text is no reason for a traceback"
