"""The chat service's settings: `[serve]`, `[slack]`, `[discord]`, `[telegram]` in config.toml.

Layers, lowest first: defaults < config.toml < the platforms' usual variables (``SLACK_BOT_TOKEN``,
``DISCORD_BOT_TOKEN``, ``TELEGRAM_BOT_TOKEN`` …) < ``OPENKOI_<SECTION>__<KEY>``. A platform is on
when its credentials are present; ``enabled_reason`` says why one is off.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from core.config import SERVICE_SECTIONS, FileSource, blame, describe_errors, read_config_file


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Access(_Section):
    """Who may use the bot on one platform. Empty lists mean "no restriction" for /think.

    Overrides are four-eyes: only ``approvers`` (or holders of ``approver_roles``) may override a
    block, and never on their own task. ``self_approval = true`` lets the person who asked decide
    on their own task too, for a solo set-up; with no approvers and no self-approval, nobody can
    override (a block can still be cancelled)."""

    allowed_users: list[str] = Field(default_factory=list)
    allowed_channels: list[str] = Field(default_factory=list)
    allowed_roles: list[str] = Field(default_factory=list)
    approvers: list[str] = Field(default_factory=list)
    approver_roles: list[str] = Field(default_factory=list)
    self_approval: bool = False

    @property
    def open_to_everyone(self) -> bool:
        return not (self.allowed_users or self.allowed_channels or self.allowed_roles)


class Pace(_Section):
    """At most ``messages`` sends (new messages and edits) into one chat in any ``seconds``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    messages: int = Field(ge=1)
    seconds: float = Field(gt=0)


class ServeSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(9742, ge=0, le=65535)
    workers: int = Field(4, ge=1, le=256)
    # Past this many queued tasks, a new task is still saved (and runs in its turn), but its answer
    # says the queue is full and asks people to hold further requests.
    queue_limit: int = Field(1000, ge=1)
    # Most unfinished (queued or running) tasks one person, or one channel, may have at once; a
    # command past either limit is refused with a message saying so.
    queue_limit_per_user: int = Field(10, ge=1)
    queue_limit_per_channel: int = Field(50, ge=1)
    drain_seconds: float = Field(30.0, ge=0)
    expiry_check_seconds: float = Field(15.0, gt=0)
    dedupe_hours: float = Field(24.0, ge=0.2)  # PLATFORMS.md: at least 10 minutes
    # A platform that fails to start is retried after this many seconds, doubling up to the maximum.
    start_retry_seconds: float = Field(5.0, gt=0)
    start_retry_max_seconds: float = Field(300.0, gt=0)
    log_format: Literal["text", "json"] = "text"


class SlackSettings(_Section):
    bot_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    app_token: SecretStr | None = None
    api_url: str = "https://slack.com/api/"
    mode: Literal["auto", "http", "socket"] = "auto"
    edit_interval: float = Field(1.0, ge=0)
    # chat.postMessage allows about one message per second per channel.
    channel_pace: Pace = Pace(messages=1, seconds=1.0)
    access: Access = Field(default_factory=Access)

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


class DiscordSettings(_Section):
    bot_token: SecretStr | None = None
    api_url: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg/"
    # Guilds to register /think in directly (instant); otherwise it is registered globally.
    guild_ids: list[int] = Field(default_factory=list)
    edit_interval: float = Field(1.0, ge=0)
    # Discord's per-channel message bucket is 5 per 5 s (discord.py also waits out its 429s).
    channel_pace: Pace = Pace(messages=5, seconds=5.0)
    access: Access = Field(default_factory=Access)

    def off_reason(self) -> str | None:
        return "DISCORD_BOT_TOKEN is not set" if self.bot_token is None else None


class TelegramSettings(_Section):
    bot_token: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    # The public https URL Telegram should call (it must reach /telegram/webhook); without it we poll.
    webhook_url: str | None = None
    api_url: str = "https://api.telegram.org/bot"
    mode: Literal["auto", "polling", "webhook"] = "auto"
    edit_interval: float = Field(0.6, ge=0)
    # Telegram: about one message per second in any chat, and 20 per minute in a group.
    chat_pace: Pace = Pace(messages=1, seconds=1.0)
    group_pace: Pace = Pace(messages=20, seconds=60.0)
    access: Access = Field(default_factory=Access)

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


# The variables each platform's own docs use, mapped to (section, key).
PLATFORM_ENV: dict[str, tuple[str, str]] = {
    "SLACK_BOT_TOKEN": ("slack", "bot_token"),
    "SLACK_SIGNING_SECRET": ("slack", "signing_secret"),
    "SLACK_APP_TOKEN": ("slack", "app_token"),
    "SLACK_API_URL": ("slack", "api_url"),
    "DISCORD_BOT_TOKEN": ("discord", "bot_token"),
    "DISCORD_API_URL": ("discord", "api_url"),
    "DISCORD_GATEWAY_URL": ("discord", "gateway_url"),
    "TELEGRAM_BOT_TOKEN": ("telegram", "bot_token"),
    "TELEGRAM_WEBHOOK_SECRET": ("telegram", "webhook_secret"),
    "TELEGRAM_API_URL": ("telegram", "api_url"),
}


class DigestSettings(_Section):
    """Where ``openkoi serve`` posts the daily and weekly reflection digests (channel/chat ids)."""

    slack_channels: list[str] = Field(default_factory=list)
    discord_channels: list[str] = Field(default_factory=list)
    telegram_chats: list[str] = Field(default_factory=list)
    # How long a proposal's Approve/Dismiss buttons stay valid; `openkoi learn` works after that.
    proposal_ttl_hours: float = Field(72.0, gt=0)


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENKOI_", env_nested_delimiter="__", extra="ignore")

    serve: ServeSettings = Field(default_factory=ServeSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    digest: DigestSettings = Field(default_factory=DigestSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Deep-merged by pydantic-settings, highest priority first.
        return (init_settings, env_settings, _PlatformEnvSource(settings_cls), _FileSource(settings_cls))


class _FileSource(FileSource):
    data: ClassVar[dict[str, Any]] = {}  # its own: the engine's FileSource holds the engine's sections


class _PlatformEnvSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for variable, (section, key) in PLATFORM_ENV.items():
            value = os.environ.get(variable)
            if value:
                found.setdefault(section, {})[key] = value
        return found


def load_service_settings(**overrides: Any) -> ServiceSettings:
    """Build the service settings; raises ConfigError naming the file (or variable), key and expectation."""
    path, data = read_config_file()
    file_data = {k: v for k, v in data.items() if k in SERVICE_SECTIONS}
    _FileSource.data = file_data
    try:
        return ServiceSettings(**overrides)
    except ValidationError as exc:
        raise describe_errors(
            exc, lambda error: blame(error, file_data, path, "environment (SLACK_*/DISCORD_*/TELEGRAM_*/OPENKOI_*)")
        ) from exc
    finally:
        _FileSource.data = {}
