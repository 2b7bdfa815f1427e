"""A running service with the API on (the tokens of ``tests.api.harness``), and clients of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bots.service import Service
from core.config import Settings
from tests.api.harness import ApiClient, api_section, open_client
from tests.chat_service import running_service, service_settings


@dataclass
class ApiService:
    svc: Service
    client: ApiClient  # no token; ``client.as_(TOKEN)`` for one


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[ApiService]:
    async with running_service(settings, service_settings(api=api_section())) as svc:
        client = await open_client(svc.port)
        try:
            yield ApiService(svc, client)
        finally:
            await client.http.close()
