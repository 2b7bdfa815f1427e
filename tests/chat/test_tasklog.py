"""Logs operators can read: one line per task event with a timestamp, task id, platform and channel;
``[serve] log_format = "json"`` for log shippers."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator

import pytest

from bots import logs
from bots.config import service_settings_model
from core.config import Settings
from core.models import TaskStatus
from tests.fakes.model_server import FakeModelServer
from tests.platforms.telegram.fake_api import FakeTelegram
from tests.platforms.telegram.test_adapter import ALICE, GROUP, blocked_task, finished, press, serving, tg_settings


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


async def test_one_line_per_task_event_with_task_platform_and_channel(
    settings: Settings, fake: FakeTelegram, fake_model: FakeModelServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="openkoi.tasks")
    async with serving(settings, tg_settings(fake, access={"self_approval": True})) as svc:
        task_id, confirmation = await blocked_task(svc, fake, fake_model)
        await press(fake, ALICE, confirmation, "Override")
        await finished(svc, task_id, TaskStatus.DONE)
    records = [r for r in caplog.records if r.name == "openkoi.tasks" and getattr(r, "task_id", None) == task_id]
    events = [getattr(r, "event", None) for r in records]
    assert events == ["received", "started", "blocked", "decided", "started", "done"]
    assert all((getattr(r, "platform", None), getattr(r, "channel", None)) == ("telegram", str(GROUP)) for r in records)
    lines = [r.getMessage() for r in records]
    assert lines[0] == f"task {task_id} received platform=telegram channel={GROUP} by Alice (telegram:{ALICE})"
    assert "(guardian_block)" in lines[2] and lines[3].endswith(f"approved by Alice (telegram:{ALICE})")

    text = logs.TextFormatter(timestamps=True).format(records[0])
    assert re.fullmatch(
        rf"\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z INFO openkoi\.tasks: task {task_id} received platform=telegram .*",
        text,
    )
    shipped = json.loads(logs.JsonFormatter().format(records[-1]))
    assert shipped["level"] == "info" and shipped["logger"] == "openkoi.tasks"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", shipped["ts"])
    assert {k: shipped[k] for k in ("task_id", "event", "platform", "channel")} == {
        "task_id": task_id,
        "event": "done",
        "platform": "telegram",
        "channel": str(GROUP),
    }


def test_log_format_json_is_a_serve_setting_and_installs_the_json_formatter(capsys: pytest.CaptureFixture[str]) -> None:
    assert service_settings_model().model_validate({"serve": {"log_format": "json"}}).serve.log_format == "json"
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", *logs.noisy_loggers())}
    try:
        logs.configure("info", "json", timestamps=True)
        logs.show_task_events("info")
        logging.getLogger("openkoi.tasks").info("task x done", extra={"task_id": "x", "event": "done"})
    finally:  # logging is process-wide: leave it as the other tests expect it
        for handler in [h for h in root.handlers if h.get_name() == logs.HANDLER_NAME]:
            root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["message"] == "task x done" and line["task_id"] == "x" and line["event"] == "done"


def test_task_events_show_at_the_default_warn_level_but_not_at_error() -> None:
    tasks = logging.getLogger(logs.TASKS_LOGGER)
    before = tasks.level
    try:
        tasks.setLevel(logging.NOTSET)
        logs.show_task_events("error")
        assert tasks.level == logging.NOTSET
        logs.show_task_events("warn")
        assert tasks.level == logging.INFO
    finally:
        tasks.setLevel(before)
