"""``[web]`` in config.toml: whether ``openkoi serve`` shows the web page at ``/``, and how.

    [web]
    enabled = true            # the default: on whenever the HTTP API is (it has at least one token)
    refresh_seconds = 2       # how often an open task list and the approvals are refreshed
    page_size = 50            # tasks per page of the list ("older" shows the next)
    session_hours = 12        # how long a sign-in lasts in the browser

The page has no credentials of its own: people sign in with an API token (``[api]``), so it is off while the API
is, and says why. It takes no /think, so ``[web.access]`` is refused: who may see and decide is the tokens'
scopes.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field, PrivateAttr, field_validator

from bots.api.settings import ENV_TOKEN, ApiSettings
from bots.chat.settings import Access, PlatformSettings


class WebSettings(PlatformSettings):
    has_access_rules: ClassVar[bool] = False

    enabled: bool = True
    refresh_seconds: float = Field(2.0, ge=0.5, le=300)
    page_size: int = Field(50, ge=10, le=200)
    session_hours: float = Field(12.0, gt=0, le=24 * 30)
    # Whether the API has a token, as the whole configuration said (``configured_with``); off until told.
    _api_on: bool = PrivateAttr(False)

    @field_validator("access")
    @classmethod
    def _no_access_rules(cls, value: Access) -> Access:
        if value != Access():
            raise ValueError(
                "the web page takes no /think: who may see it and decide is each API token's scopes"
                " (openkoi api token create NAME --scopes tasks:read,approve)"
            )
        return value

    def configured_with(self, service: BaseModel) -> None:
        api = getattr(service, "api", None)
        self._api_on = isinstance(api, ApiSettings) and api.configured

    def off_reason(self) -> str | None:
        if not self.enabled:
            return "[web] enabled = false"
        if not self._api_on:
            return (
                f"the API has no token to sign in with; set {ENV_TOKEN} or run"
                " `openkoi api token create NAME --scopes tasks:read`"
            )
        return None
