"""`openkoi serve` with no platform configured: it starts, says how to add one, and answers probes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import aiohttp
import pytest
import yaml

from bots.config import platform_variables
from bots.service import Service
from core.config import ScheduleSettings, Settings
from tests.chat_service import running_service, service_settings, wait_until
from tests.conftest import PROVIDER_KEYS
from tests.terminal.test_e2e import OPENKOI


async def test_starts_without_platforms_and_reports_why(settings: Settings) -> None:
    async with running_service(settings, service_settings()) as svc:
        assert svc.adapters == {}
        assert "slack: off — SLACK_BOT_TOKEN is not set" in svc.startup_report
        assert "discord: off — DISCORD_BOT_TOKEN is not set" in svc.startup_report
        assert "telegram: off — TELEGRAM_BOT_TOKEN is not set" in svc.startup_report
        assert "No chat platform is configured" in svc.startup_report
        assert "  model: openai/fake\n" in svc.startup_report
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{svc.port}/healthz") as r:
                assert r.status == 200
                assert (await r.json())["status"] == "ok"
            async with http.get(f"http://127.0.0.1:{svc.port}/readyz") as r:
                body = await r.json()
                assert r.status == 200, body
                assert body == {
                    "ready": True, "database": True, "model": "configured", "platforms": {}, "draining": False,
                    "schedule": "this instance",
                }  # fmt: skip


async def test_a_second_service_on_the_same_database_does_not_schedule_until_the_first_stops(
    settings: Settings,
) -> None:
    settings.schedule = ScheduleSettings(lease_seconds=3)  # a taken lease is retried every second
    first, second = Service(settings, service_settings()), Service(settings, service_settings())
    await first.start()
    first_running = True
    try:
        await second.start()
        assert first.schedule is not None and first.schedule.state == "this instance"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{second.port}/readyz") as r:
                assert r.status == 200 and (await r.json())["schedule"] == "another instance"
            await first.stop()  # releases the lease
            first_running = False
            await wait_until(lambda: second.schedule is not None and second.schedule.owning, within=3)
            async with http.get(f"http://127.0.0.1:{second.port}/readyz") as r:
                assert (await r.json())["schedule"] == "this instance"
    finally:
        if first_running:
            await first.stop()
        await second.stop()


async def test_a_service_without_a_model_says_so_and_is_not_ready(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    async with running_service(settings, service_settings()) as svc:
        assert "model: missing — openai/fake needs OPENAI_API_KEY, which is not set" in svc.startup_report
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{svc.port}/readyz") as r:
            assert r.status == 503
            assert (await r.json())["model"] == "missing"


async def test_readyz_is_503_while_draining(settings: Settings) -> None:
    async with running_service(settings, service_settings()) as svc:
        svc.ingress.closing = True
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{svc.port}/readyz") as r:
            assert r.status == 503
            assert (await r.json())["draining"] is True


def test_openkoi_serve_starts_answers_and_drains_on_sigterm(tmp_path: Path) -> None:
    """The console script: starts with no platform, says how to add one, serves probes, exits 0 on SIGTERM."""
    env = {k: v for k, v in os.environ.items() if k not in PROVIDER_KEYS and not k.startswith("OPENKOI_")}
    for key in platform_variables():
        env.pop(key, None)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env.update(OPENKOI_HOME=str(tmp_path / "home"), OPENKOI_MODEL="openai/fake", OPENAI_API_KEY="x")
    proc = subprocess.Popen(
        [OPENKOI, "serve", "--port", str(port)], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    try:
        assert proc.stderr is not None
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            lines.append(line)
            if "telegram: off" in line or not line:
                break
        report = "".join(lines)
        assert f"listening on http://127.0.0.1:{port}" in report, report
        assert "No chat platform is configured" in report or "slack: off" in report
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            assert json.loads(r.read()) == {"status": "ok"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_slack_manifest_points_at_the_routes_the_service_serves() -> None:
    manifest = yaml.safe_load((Path(__file__).resolve().parents[2] / "deploy" / "slack-app-manifest.yaml").read_text())
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/think"]
    urls = [
        manifest["features"]["slash_commands"][0]["url"],
        manifest["settings"]["event_subscriptions"]["request_url"],
        manifest["settings"]["interactivity"]["request_url"],
    ]
    assert all(u.endswith("/slack/events") for u in urls)
    assert {"commands", "app_mentions:read", "chat:write"} <= set(manifest["oauth_config"]["scopes"]["bot"])
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == ["app_mention"]


async def test_a_failed_start_releases_what_it_opened(settings: Settings) -> None:
    from bots.service import Service

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        svc = Service(settings, service_settings(serve={"port": port}))
        with pytest.raises(OSError):
            await svc.start()
    assert svc.store.db._conn is None  # the database was closed again
    assert all(job.done() for job in svc._background)


# --------------------------------------------------------------------------- issue 8: operators


async def test_a_platform_that_fails_to_start_is_retried_while_readyz_says_503(settings: Settings) -> None:
    from tests.chat_service import wait_until
    from tests.platforms.telegram.fake_api import FakeTelegram
    from tests.platforms.telegram.test_adapter import tg_settings

    async with FakeTelegram() as fake:
        for _ in range(2):  # the first start and the first retry fail, as in a Telegram outage
            fake.fail_next("getMe", error_code=502)
        async with running_service(settings, tg_settings(fake)) as svc:
            assert "telegram: off — failed to start" in svc.startup_report and "(retrying)" in svc.startup_report
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{svc.port}/readyz") as r:
                    assert r.status == 503 and (await r.json())["platforms"] == {"telegram": False}

                async def ready() -> bool:
                    async with http.get(f"http://127.0.0.1:{svc.port}/readyz") as r:
                        return r.status == 200

                await wait_until(ready, within=10)
            assert "telegram" not in svc.off
            assert len(fake.calls_to("getMe")) == 3


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return tmp_path.resolve()


async def test_the_banner_warns_about_open_access_missing_approvers_and_says_what_tools_may_read(
    settings: Settings, workspace: Path
) -> None:
    from tests.platforms.telegram.fake_api import FakeTelegram
    from tests.platforms.telegram.test_adapter import tg_settings

    async with FakeTelegram() as fake:
        async with running_service(settings, tg_settings(fake)) as svc:
            report = svc.startup_report
        assert "warning: /think on telegram is open to everyone" in report
        assert "[telegram.access] allowed_users, allowed_channels or allowed_roles" in report
        assert "nobody may override a block on telegram until [telegram.access] approvers" in report
        assert "tools: no [tools] workspace configured, so the agent has no file tools" in report

        settings.tools.workspace = workspace
        access = {"allowed_channels": ["-100777"], "approvers": ["42"]}
        async with running_service(settings, tg_settings(fake, access=access)) as svc:
            report = svc.startup_report
        assert "warning" not in report and "nobody may override" not in report
        assert f"tools: the agent may read files under {workspace}" in report


async def test_a_missing_workspace_stops_the_service_from_starting(settings: Settings, tmp_path: Path) -> None:
    from bots.service import Service
    from core.errors import ConfigError

    settings.tools.workspace = tmp_path / "nowhere"
    svc = Service(settings, service_settings())
    with pytest.raises(ConfigError, match=r"\[tools\] workspace: .*nowhere is not a directory"):
        await svc.start()
    assert svc.store.db._conn is None


async def test_the_banner_warns_when_others_can_read_a_config_file_holding_a_secret(settings: Settings) -> None:
    from tests.platforms.telegram.fake_api import FakeTelegram
    from tests.platforms.telegram.test_adapter import tg_settings

    config = settings.config_path
    config.parent.mkdir(parents=True, exist_ok=True)
    async with FakeTelegram() as fake:
        config.write_text(f'[telegram]\nbot_token = "{fake.token}"\n', encoding="utf-8")
        config.chmod(0o644)
        async with running_service(settings, tg_settings(fake)) as svc:
            assert f"warning: {config} holds secrets and other users can read it; chmod 600 it" in svc.startup_report
        config.chmod(0o600)
        async with running_service(settings, tg_settings(fake)) as svc:
            assert "chmod 600" not in svc.startup_report
