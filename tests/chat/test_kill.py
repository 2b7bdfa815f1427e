"""`kill -9` between acknowledgement and save: every acknowledged command is a task after a restart.

The real `openkoi serve` runs as a subprocess (Slack over HTTP, Telegram webhook) against the fake
Slack and Telegram APIs and the fake model, all in this process. Another connection holds SQLite's
write lock, the way a slow disk or a backup stalls the database, while three waves of commands
arrive: one while the stall outlasts every deadline, one while the stall ends, and one during which
the service is killed with SIGKILL. After a restart, every command that was acknowledged (a slash
command answered with its task, an event or update answered 200) is a task, none was told "Got it"
without being saved, what was refused or never answered can be delivered again, and every saved
task runs.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from bots.chat.intake import NOT_ACCEPTED_TEXT
from core.config import Settings
from core.models import TaskStatus
from tests.chat_service import running_service, service_settings, wait_until
from tests.fakes.model_server import FakeModelServer
from tests.platforms.slack.fake_api import (
    BOT_USER_ID,
    FakeSlack,
    app_mention_event,
    event_callback_body,
    signed_headers,
    slash_command_body,
)
from tests.platforms.telegram.fake_api import FakeTelegram
from tests.service_process import serve_environment, serve_process

SECRET = "kill-signing-secret"
TG_SECRET = "kill-Webhook_secret"
WEBHOOK_URL = "https://bot.example.com/telegram/webhook"
GROUP, ALICE = -100999, 42
PER_WAVE = 4  # of each kind: slash command, mention, Telegram update
TASK = re.compile(r"[Tt]ask ([0-9a-f]{8})")


@dataclass
class Sent:
    kind: str  # "slash" | "mention" | "telegram"
    key: str  # the delivery key: trigger_id, event_id, update_id
    body: bytes | dict[str, object]
    status: int | None = None  # None: no answer (the process died first)
    text: str = ""

    @property
    def acknowledged(self) -> bool:
        if self.status != 200:
            return False
        return self.kind != "slash" or TASK.search(self.text) is not None


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeSlack, FakeTelegram]]:
    async with FakeSlack(bot_token="xoxb-kill") as slack, FakeTelegram() as telegram:
        yield slack, telegram


def _environment(home: Path, model: FakeModelServer, slack: FakeSlack, telegram: FakeTelegram) -> dict[str, str]:
    """`openkoi serve`'s: Slack over HTTP and Telegram by webhook against the fakes, the fake model."""
    return serve_environment(
        home,
        model,
        SLACK_BOT_TOKEN="xoxb-kill",
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=slack.api_url,
        TELEGRAM_BOT_TOKEN=telegram.token,
        TELEGRAM_API_URL=telegram.base_url,
        TELEGRAM_WEBHOOK_SECRET=TG_SECRET,
        OPENKOI_TELEGRAM__WEBHOOK_URL=WEBHOOK_URL,
        OPENKOI_SERVE__QUEUE_LIMIT_PER_USER="100",
        OPENKOI_SERVE__QUEUE_LIMIT_PER_CHANNEL="100",
    )


async def _send(http: aiohttp.ClientSession, port: int, telegram: FakeTelegram, sent: Sent) -> None:
    try:
        if sent.kind == "telegram":
            assert isinstance(sent.body, dict)
            sent.status, sent.text = await telegram.post_webhook(sent.body, f"http://127.0.0.1:{port}/telegram/webhook")
            return
        assert isinstance(sent.body, bytes)
        headers = signed_headers(sent.body, SECRET, json_body=sent.kind == "mention")
        async with http.post(f"http://127.0.0.1:{port}/slack/events", data=sent.body, headers=headers) as response:
            sent.status, sent.text = response.status, await response.text()
    except (aiohttp.ClientError, ConnectionError):
        sent.status = None  # killed before it answered: not acknowledged


def _wave(name: str, slack: FakeSlack, telegram: FakeTelegram) -> list[Sent]:
    wave: list[Sent] = []
    for n in range(PER_WAVE):
        trigger = f"{name}-trig-{n}"
        wave.append(
            Sent(
                "slash",
                trigger,
                slash_command_body(
                    text=f"{name} {n} --simulate", trigger_id=trigger, response_url=slack.response_url(trigger)
                ),
            )
        )
        event = app_mention_event(f"<@{BOT_USER_ID}> --simulate {name} mention {n}", ts=f"1700000{n}.{name}")
        wave.append(Sent("mention", f"Ev{name}{n}", event_callback_body(event, event_id=f"Ev{name}{n}")))
        update = telegram.update_payload(GROUP, ALICE, f"/think --simulate {name} update {n}", first_name="Alice")
        wave.append(Sent("telegram", str(update["update_id"]), update))
    return wave


async def test_a_kill_while_the_database_stalls_loses_no_acknowledged_command(
    settings: Settings, home: Path, fake_model: FakeModelServer, fakes: tuple[FakeSlack, FakeTelegram]
) -> None:
    slack, telegram = fakes
    waves: dict[str, list[Sent]] = {}
    async with (
        serve_process(_environment(home, fake_model, slack, telegram), until="telegram:") as served,
        aiohttp.ClientSession() as http,
    ):
        assert "telegram: on" in served.announced, served.announced
        port = served.port
        lock = sqlite3.connect(settings.db_path, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        # Wave a: the database stays stalled past every deadline.
        waves["a"] = _wave("a", slack, telegram)
        await asyncio.gather(*(_send(http, port, telegram, s) for s in waves["a"]))
        # Wave b: the stall ends while the commands wait, within their deadline.
        waves["b"] = _wave("b", slack, telegram)
        sending = asyncio.gather(*(_send(http, port, telegram, s) for s in waves["b"]))
        await asyncio.sleep(0.5)
        lock.execute("ROLLBACK")
        await sending
        # Wave c: stalled again, and the process is killed while the commands wait for the save.
        lock.execute("BEGIN IMMEDIATE")
        waves["c"] = _wave("c", slack, telegram)
        sending = asyncio.gather(*(_send(http, port, telegram, s) for s in waves["c"]))
        await asyncio.sleep(1.0)
        await served.kill()
        await sending
        lock.execute("ROLLBACK")
        lock.close()

    everything = [s for wave in waves.values() for s in wave]
    service = service_settings(
        serve={"queue_limit_per_user": 100, "queue_limit_per_channel": 100},
        slack={"bot_token": "xoxb-kill", "signing_secret": SECRET, "api_url": slack.api_url},
        telegram={
            "bot_token": telegram.token,
            "api_url": telegram.base_url,
            "webhook_secret": TG_SECRET,
            "webhook_url": WEBHOOK_URL,
        },
    )
    async with running_service(settings, service) as svc:
        store = svc.store
        tasks: dict[str, str] = {}  # acknowledged delivery key -> its task
        for sent in everything:
            task_id = await store.inbound.task_for(sent.kind if sent.kind == "telegram" else "slack", sent.key)
            if sent.acknowledged:
                assert task_id is not None, f"{sent.kind} {sent.key} was acknowledged but is not a task"
                tasks[sent.key] = task_id
            if sent.kind == "slash" and sent.text == NOT_ACCEPTED_TEXT:
                assert task_id is None, f"{sent.key} was told 'not accepted' but became a task"
        assert len(set(tasks.values())) == len(tasks) >= 3 * PER_WAVE
        assert not [s for s in everything if "Got it" in s.text], "never 'Got it' before the save"
        stalled, killed = waves["a"], waves["c"]
        assert all(s.text == NOT_ACCEPTED_TEXT for s in stalled if s.kind == "slash"), [s.text for s in stalled]
        assert all(s.status == 503 for s in stalled if s.kind != "slash"), [(s.kind, s.status) for s in stalled]
        assert all(s.acknowledged for s in waves["b"]), [(s.kind, s.status, s.text) for s in waves["b"]]
        assert not any(s.acknowledged for s in killed), "nothing could be saved, so nothing was acknowledged"
        # What was refused (503) or never answered is delivered again by Slack and Telegram: saved now.
        async with aiohttp.ClientSession() as http:
            for sent in [s for s in stalled + killed if s.kind != "slash"]:
                await _send(http, svc.port, telegram, sent)
                task_id = await store.inbound.task_for("telegram" if sent.kind == "telegram" else "slack", sent.key)
                assert sent.status == 200 and task_id is not None
                tasks[sent.key] = task_id

        async def all_finished() -> bool:
            statuses = [(await store.tasks.get(t)).status for t in tasks.values()]
            return all(status.finished for status in statuses)

        # Every saved task runs after the restart; one the kill interrupted is failed honestly.
        await wait_until(all_finished, within=60, every=0.2)
        for task_id in tasks.values():
            task = await store.tasks.get(task_id)
            assert task.status is TaskStatus.DONE or "restarted" in (task.error or ""), (task.status, task.error)
