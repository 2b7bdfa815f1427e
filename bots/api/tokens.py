"""API tokens: what a bearer token is (a name and its scopes), how one is made, and how one is recognised.

Only a token's SHA-256 is configured, so config.toml never holds a usable credential (``[api] token`` and
OPENKOI_API_TOKEN excepted, for the one full-scope token a person sets by hand). A presented token is hashed
and compared with every configured hash in constant time (``hmac.compare_digest``), all of them every time, so
the answer's timing tells nothing about how close a guess came or which token it resembled.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from bots.api.settings import DEFAULT_TOKEN_NAME, SCOPES, ApiScope, ApiSettings
from bots.chat.platform import Actor

PLATFORM = "api"  # the name API tasks, their conversations and their deciders go by
PREFIX = "okoi_"  # so that a leaked token is recognisable (and secret scanners can be taught it)


@dataclass(frozen=True)
class ApiToken:
    """An authenticated caller: the token's name is its identity (audited as ``api:<name>``)."""

    name: str
    scopes: frozenset[ApiScope]

    def allows(self, scope: ApiScope) -> bool:
        """``admin`` may do everything; any other scope only what it names."""
        return scope in self.scopes or "admin" in self.scopes

    @property
    def actor(self) -> Actor:
        """The token as the chat desks see a person: on the ``api`` platform, its name as its user id."""
        return Actor(PLATFORM, self.name, self.name)

    @property
    def label(self) -> str:
        return self.actor.label


def new_token() -> str:
    """A fresh token value: 256 random bits, URL-safe."""
    return PREFIX + secrets.token_urlsafe(32)


def token_hash(value: str) -> str:
    """What config.toml keeps for a token: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True)
class TokenSet:
    """The configured tokens, by hash."""

    entries: tuple[tuple[str, ApiToken], ...]  # (hash, token)

    @classmethod
    def from_settings(cls, api: ApiSettings) -> TokenSet:
        entries = [(entry.hash, ApiToken(name, frozenset(entry.scopes))) for name, entry in api.tokens.items()]
        if api.token is not None:
            full = ApiToken(DEFAULT_TOKEN_NAME, frozenset(SCOPES))
            entries.append((token_hash(api.token.get_secret_value()), full))
        return cls(tuple(entries))

    def __bool__(self) -> bool:
        return bool(self.entries)

    def authenticate(self, presented: str) -> ApiToken | None:
        """The token whose hash matches ``presented``, or None. Compares with every hash, in constant time each."""
        digest = token_hash(presented)
        found = None
        for configured, token in self.entries:
            if hmac.compare_digest(configured.encode(), digest.encode()):
                found = token
        return found

    def names_with(self, scope: ApiScope) -> list[str]:
        return [token.name for _, token in self.entries if token.allows(scope)]
