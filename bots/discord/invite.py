"""The link that adds the bot to a Discord server, worked out from its token alone (``openkoi doctor`` prints it).

A bot token's first dot-separated segment is the bot user's id in base64 (discord.py's and other libraries'
docs describe the format; Discord's own docs do not), and a bot user's id is its application's id, which the
OAuth2 link takes as ``client_id``. The scopes and permissions are the ones the README's Discord set-up lists.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import quote, urlencode

from bots.chat.probe import secret
from bots.chat.spec import SetupHint
from bots.discord.settings import DiscordSettings

AUTHORIZE_URL = "https://discord.com/oauth2/authorize"
# `bot` adds the bot user; `applications.commands` lets it register /think.
SCOPES = ("bot", "applications.commands")
# Discord's permission bits (developer docs, "Permissions": bitwise permission flags).
SEND_MESSAGES = 1 << 11
CREATE_PUBLIC_THREADS = 1 << 35
SEND_MESSAGES_IN_THREADS = 1 << 38
# What openkoi does in a channel: answer /think, open a thread for the task, post and edit in it.
PERMISSIONS = SEND_MESSAGES | CREATE_PUBLIC_THREADS | SEND_MESSAGES_IN_THREADS


def application_id(token: str) -> str | None:
    """The application id a bot token belongs to; None when the token does not have the bot-token shape."""
    first = token.strip().split(".", 1)[0]
    if not first:
        return None
    try:
        decoded = base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    # A snowflake: a positive 64-bit integer, written in decimal.
    return decoded if decoded.isdigit() and 0 < int(decoded) < 1 << 64 else None


def invite_url(app_id: str) -> str:
    """The OAuth2 link that adds application ``app_id``'s bot with openkoi's scopes and permissions."""
    query = {"client_id": app_id, "scope": " ".join(SCOPES), "permissions": str(PERMISSIONS)}
    return f"{AUTHORIZE_URL}?{urlencode(query, quote_via=quote)}"


def setup_hints(settings: DiscordSettings) -> list[SetupHint]:
    """``openkoi doctor``'s line for Discord: the invite link, or why there is none (never the token)."""
    app_id = application_id(secret(settings.bot_token))
    if app_id is None:
        return [
            SetupHint(
                "discord: the bot token is not shaped like one (id.timestamp.signature): no invite link",
                "copy the token again from the Developer Portal (Bot, Reset Token)",
                warn=True,
            )
        ]
    return [SetupHint(f"discord: invite the bot with {invite_url(app_id)}")]
