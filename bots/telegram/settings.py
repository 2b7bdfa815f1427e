"""``[telegram]`` in config.toml (and ``TELEGRAM_*``, ``OPENKOI_TELEGRAM__*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from bots.chat.settings import Pace, PlatformSettings


class TelegramSettings(PlatformSettings):
    webhook_secret: SecretStr | None = None
    # The public https URL Telegram should call (it must reach /telegram/webhook); without it we poll.
    webhook_url: str | None = None
    api_url: str = "https://api.telegram.org/bot"
    mode: Literal["auto", "polling", "webhook"] = "auto"
    edit_interval: float = Field(0.6, ge=0)
    # Telegram: about one message per second in any chat, and 20 per minute in a group.
    chat_pace: Pace = Pace(messages=1, seconds=1.0)
    group_pace: Pace = Pace(messages=20, seconds=60.0)

    def off_reason(self) -> str | None:
        if self.bot_token is None:
            return "TELEGRAM_BOT_TOKEN is not set"
        if self.resolved_mode == "webhook" and self.webhook_secret is None:
            return "webhook mode needs TELEGRAM_WEBHOOK_SECRET"
        return None

    @property
    def resolved_mode(self) -> Literal["polling", "webhook"]:
        if self.mode != "auto":
            return self.mode
        return "webhook" if self.webhook_secret is not None else "polling"
