"""The chat service's settings: ``[serve]``, ``[digest]`` and one section per registered chat platform
(``[slack]``, ``[discord]``, ``[telegram]`` …) in config.toml.

Layers, lowest first: defaults < config.toml < the platforms' usual variables (each platform spec's ``env``:
``SLACK_BOT_TOKEN``, ``DISCORD_BOT_TOKEN``, ``TELEGRAM_BOT_TOKEN`` …) < ``OPENKOI_<SECTION>__<KEY>``. A platform
is on when its credentials are present; ``off_reason`` says why one is off.

``ServiceSettings`` holds what is the service's own; the class that validates a whole configuration adds a
section per platform (and its ``[digest]`` channel key) from the registered platform specs:
``service_settings_model()``, which ``load_service_settings`` uses.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Self, TypeVar

from pydantic import Field, SecretStr, ValidationError, create_model, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bots.api.settings import ApiSettings, ApiTokenEnvSource
from bots.chat import registry
from bots.chat.settings import PlatformSettings, Section
from bots.chat.spec import PlatformSpec
from core.config import SERVICE_SECTIONS, FileSource, LayeredSettings, blame, describe_errors, read_config_file
from integrations.webhooks.settings import WebhookDelivery, WebhookList

P = TypeVar("P", bound=PlatformSettings)


class ServeSettings(Section):
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
    # GET /metrics (bots.metrics.endpoint): on by default; with no metrics_token it is served only when the
    # service is bound to a loopback address, and a token (bearer) is then required everywhere else.
    metrics: bool = True
    metrics_token: SecretStr | None = None

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _no_empty_token(cls, value: object) -> object:
        # OPENKOI_SERVE__METRICS_TOKEN= (empty, as compose passes an unset variable) means no token, not "".
        return None if isinstance(value, str) and not value.strip() else value


class DigestSettings(Section):
    """Where ``openkoi serve`` posts the daily and weekly reflection digests: for each platform, the channel
    (or chat) ids under the key its spec names (``slack_channels``, ``discord_channels``, ``telegram_chats`` …)."""

    # How long a proposal's Approve/Dismiss buttons stay valid; `openkoi learn` works after that.
    proposal_ttl_hours: float = Field(72.0, gt=0)

    def channels(self, key: str) -> list[str]:
        """The ids listed under ``key``; none when no registered platform has that key."""
        value = getattr(self, key, None)
        return [str(channel) for channel in value] if isinstance(value, list) else []

    def targets(self) -> list[tuple[str, str]]:
        """Every configured (platform, channel), platforms in registry order, channels as configured."""
        return [(spec.name, c) for spec in registry.platforms().values() for c in self.channels(spec.digest_key)]


class ServiceSettings(LayeredSettings):
    """The service's settings. Build them with ``load_service_settings`` (or validate data with
    ``service_settings_model()``): this class alone has no platform sections and refuses to be built."""

    model_config = SettingsConfigDict(env_prefix="OPENKOI_", env_nested_delimiter="__", extra="ignore")

    serve: ServeSettings = Field(default_factory=ServeSettings)
    digest: DigestSettings = Field(default_factory=DigestSettings)
    # Outgoing webhooks (integrations/webhooks): [[webhooks]] endpoints, the [api.webhooks] shorthand, [webhook_delivery].
    webhooks: WebhookList = Field(default_factory=list)
    webhook_delivery: WebhookDelivery = Field(default_factory=WebhookDelivery)
    api: ApiSettings = Field(default_factory=ApiSettings)  # the HTTP API (bots/api), and [api.webhooks]

    @model_validator(mode="before")
    @classmethod
    def _with_platform_sections(cls, data: Any) -> Any:
        # Built without the platforms' sections, [slack] and the rest would be ignored without a word.
        if cls is ServiceSettings:
            raise TypeError("build ServiceSettings with bots.config.service_settings_model(): it has the platforms")
        return data

    @model_validator(mode="after")
    def _platforms_see_the_whole(self) -> Self:
        # A platform may depend on another section (bots.chat.settings.PlatformSettings.configured_with).
        for name in type(self).model_fields:
            if isinstance(section := getattr(self, name), PlatformSettings):
                section.configured_with(self)
        return self

    def section(self, kind: type[P]) -> P:
        """The platform section that is a ``kind`` (a platform's own settings class); KeyError when none is."""
        for name in type(self).model_fields:
            section = getattr(self, name)
            if isinstance(section, kind):
                return section
        raise KeyError(kind.__name__)

    def platform(self, name: str) -> PlatformSettings:
        """The section of the registered platform ``name``; KeyError when there is none."""
        section = getattr(self, name, None)
        if not isinstance(section, PlatformSettings):
            raise KeyError(name)
        return section

    @classmethod
    def lower_sources(cls, settings_cls: type[BaseSettings]) -> tuple[PydanticBaseSettingsSource, ...]:
        # Under OPENKOI_*: the platforms' own variables (SLACK_BOT_TOKEN …), then config.toml; deep-merged.
        # OPENKOI_API_TOKEN sits beside them: a name of its own, like the platforms' variables.
        return (_PlatformEnvSource(settings_cls), ApiTokenEnvSource(settings_cls), _FileSource(settings_cls))


_built: tuple[Mapping[str, PlatformSpec[Any]], type[ServiceSettings]] | None = None


def service_settings_model() -> type[ServiceSettings]:
    """``ServiceSettings`` with one section per registered platform, and its ``[digest]`` key."""
    global _built
    specs = registry.platforms()
    if _built is None or _built[0] is not specs:
        channels: dict[str, Any] = {s.digest_key: (list[str], Field(default_factory=list)) for s in specs.values()}
        digest = create_model("DigestSettings", __base__=DigestSettings, **channels)
        sections: dict[str, Any] = {s.name: (s.settings, Field(default_factory=s.settings)) for s in specs.values()}
        model = create_model(
            "ServiceSettings", __base__=ServiceSettings, digest=(digest, Field(default_factory=digest)), **sections
        )
        _built = (specs, model)
    return _built[1]


def platform_variables() -> dict[str, tuple[str, str]]:
    """Every registered platform's own environment variables, mapped to (section, key)."""
    return {variable: (s.name, key) for s in registry.platforms().values() for variable, key in s.env.items()}


class _FileSource(FileSource):
    data: ClassVar[dict[str, Any]] = {}  # its own: the engine's FileSource holds the engine's sections


class _PlatformEnvSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for variable, (section, key) in platform_variables().items():
            value = os.environ.get(variable)
            if value:
                found.setdefault(section, {})[key] = value
        return found


def _environment() -> str:
    """Where a bad value came from when it was not the file: "environment (SLACK_*/…/OPENKOI_*)"."""
    prefixes = dict.fromkeys(variable.split("_", 1)[0] + "_*" for variable in platform_variables())
    return f"environment ({'/'.join([*prefixes, 'OPENKOI_*'])})"


def load_service_settings(**overrides: Any) -> ServiceSettings:
    """Build the service settings; raises ConfigError naming the file (or variable), key and expectation."""
    path, data = read_config_file()
    sections = (*SERVICE_SECTIONS, *registry.names())
    file_data = {k: v for k, v in data.items() if k in sections}
    _FileSource.data = file_data
    try:
        return service_settings_model()(**overrides)
    except ValidationError as exc:
        raise describe_errors(exc, lambda error: blame(error, file_data, path, _environment())) from exc
    finally:
        _FileSource.data = {}
