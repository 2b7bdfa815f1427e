"""`openkoi serve` with no platform configured: it starts, says how to add one, and answers probes."""

from __future__ import annotations

import aiohttp

from core.config import Settings
from tests.chat_service import running_service, service_settings


async def test_starts_without_platforms_and_reports_why(settings: Settings) -> None:
    async with running_service(settings, service_settings()) as svc:
        assert svc.adapters == {}
        assert "slack: off — SLACK_BOT_TOKEN is not set" in svc.startup_report
        assert "discord: off — DISCORD_BOT_TOKEN is not set" in svc.startup_report
        assert "telegram: off — TELEGRAM_BOT_TOKEN is not set" in svc.startup_report
        assert "No chat platform is configured" in svc.startup_report
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{svc.port}/healthz") as r:
                assert r.status == 200
                assert (await r.json())["status"] == "ok"
            async with http.get(f"http://127.0.0.1:{svc.port}/readyz") as r:
                body = await r.json()
                assert r.status == 200, body
                assert body == {"ready": True, "database": True, "platforms": {}, "draining": False}


async def test_readyz_is_503_while_draining(settings: Settings) -> None:
    async with running_service(settings, service_settings()) as svc:
        svc.ingress.closing = True
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{svc.port}/readyz") as r:
            assert r.status == 503
            assert (await r.json())["draining"] is True
