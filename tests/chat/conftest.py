"""What the chat tests share: no proxy between them and their fakes on 127.0.0.1, discord.py's globals put back,
and the platform fakes that several modules run the same way."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.platforms.discord.fake_api import FakeDiscord
from tests.platforms.discord.test_adapter import TOKEN as DISCORD_TOKEN
from tests.platforms.telegram.fake_api import FakeTelegram
from tests.support import discord_globals, no_proxy

__all__ = ["discord_fake", "discord_globals", "no_proxy", "telegram"]  # fixtures; no_proxy is autouse here


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(token=DISCORD_TOKEN) as fake:
        yield fake


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake
