"""``[discord]`` in config.toml (and ``DISCORD_*``, ``OPENKOI_DISCORD__*``)."""

from __future__ import annotations

from pydantic import Field

from bots.chat.settings import Pace, PlatformSettings


class DiscordSettings(PlatformSettings):
    api_url: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg/"
    # Guilds to register /think in directly (instant); otherwise it is registered globally.
    guild_ids: list[int] = Field(default_factory=list)
    # Discord's per-channel message bucket is 5 per 5 s (discord.py also waits out its 429s).
    channel_pace: Pace = Pace(messages=5, seconds=5.0)

    def off_reason(self) -> str | None:
        return "DISCORD_BOT_TOKEN is not set" if self.bot_token is None else None
