"""``[slack]`` in config.toml (and ``SLACK_*``, ``OPENKOI_SLACK__*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr

from bots.chat.settings import Pace, PlatformSettings


class SlackSettings(PlatformSettings):
    signing_secret: SecretStr | None = None
    app_token: SecretStr | None = None
    api_url: str = "https://slack.com/api/"
    mode: Literal["auto", "http", "socket"] = "auto"
    # chat.postMessage allows about one message per second per channel.
    channel_pace: Pace = Pace(messages=1, seconds=1.0)

    def off_reason(self) -> str | None:
        if self.bot_token is None:
            return "SLACK_BOT_TOKEN is not set"
        if self.resolved_mode == "socket" and self.app_token is None:
            return "Socket Mode needs SLACK_APP_TOKEN"
        if self.resolved_mode == "http" and self.signing_secret is None:
            return "SLACK_SIGNING_SECRET is not set (needed to verify requests), nor SLACK_APP_TOKEN for Socket Mode"
        return None

    @property
    def resolved_mode(self) -> Literal["http", "socket"]:
        if self.mode != "auto":
            return self.mode
        return "http" if self.signing_secret is not None or self.app_token is None else "socket"
