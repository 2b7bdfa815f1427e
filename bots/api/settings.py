"""``[api]`` in config.toml: who may call the HTTP API (bearer tokens, kept as hashes), and how fast.

    [api]
    token = "…"                       # one full-scope token, named "default" (or OPENKOI_API_TOKEN)
    [api.tokens.ci]
    hash = "sha256:…"                 # written by `openkoi api token create ci --scopes tasks:write`
    scopes = ["tasks:write", "tasks:read"]

With no token at all the API is off (its routes are not mounted) and the service says so at start-up.
"""

from __future__ import annotations

import os
import re
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import PydanticBaseSettingsSource

from bots.chat.settings import Section
from integrations.webhooks.settings import ApiWebhooks

ApiScope = Literal["tasks:write", "tasks:read", "approve", "admin"]
SCOPES: tuple[ApiScope, ...] = ("tasks:write", "tasks:read", "approve", "admin")
# The token in ``[api] token`` / OPENKOI_API_TOKEN: its name in the audit is api:default.
DEFAULT_TOKEN_NAME = "default"
ENV_TOKEN = "OPENKOI_API_TOKEN"
TOKEN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
HASH = re.compile(r"^sha256:[0-9a-f]{64}$")


class TokenSettings(Section):
    """One named token: the SHA-256 of its value (never the value) and what it may do."""

    hash: str
    scopes: list[ApiScope] = Field(min_length=1)

    @field_validator("hash")
    @classmethod
    def _sha256(cls, value: str) -> str:
        if not HASH.match(value):
            raise ValueError('expected "sha256:" and 64 lowercase hex digits (see: openkoi api token create)')
        return value


class ApiSettings(Section):
    token: SecretStr | None = None
    tokens: dict[str, TokenSettings] = Field(default_factory=dict)
    # Each token's bucket: it refills at ``rate_per_second`` up to ``burst`` requests; an empty bucket is a 429.
    rate_per_second: float = Field(20.0, gt=0)
    burst: int = Field(60, ge=1)
    # Four eyes: the token that asked a task may not approve its block or its actions, unless this is true
    # (a solo set-up with a single token).
    self_approval: bool = False
    # How often an idle event stream sends a comment, so that proxies keep it open.
    heartbeat_seconds: float = Field(15.0, gt=0)
    # The seeds' shorthand for webhook endpoints (integrations.webhooks.settings): on_task_complete and the rest.
    webhooks: ApiWebhooks = Field(default_factory=ApiWebhooks)

    @field_validator("tokens")
    @classmethod
    def _names(cls, value: dict[str, TokenSettings]) -> dict[str, TokenSettings]:
        for name in value:
            if not TOKEN_NAME.match(name) or name == DEFAULT_TOKEN_NAME:
                raise ValueError(
                    f"token name {name!r}: letters, digits, '.', '_' or '-', at most 64, and not {DEFAULT_TOKEN_NAME!r}"
                )
        return value

    @property
    def configured(self) -> bool:
        return self.token is not None or bool(self.tokens)


class ApiTokenEnvSource(PydanticBaseSettingsSource):
    """``OPENKOI_API_TOKEN`` as ``[api] token`` (it is not ``OPENKOI_API__TOKEN``, the generic spelling, which
    works too)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        value = os.environ.get(ENV_TOKEN)
        return {"api": {"token": value}} if value else {}
