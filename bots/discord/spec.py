"""Discord as a registered chat platform (entry point ``discord`` in ``openkoi.platforms``). Imports no
discord.py: that loads with the adapter."""

from __future__ import annotations

from bots.chat.probe import fetch_json, secret
from bots.chat.spec import PlatformSpec, TokenCheck, lazy_adapter
from bots.discord.custom_id import CODEC
from bots.discord.invite import setup_hints
from bots.discord.markup import DISCORD as MARKUP
from bots.discord.settings import DiscordSettings


def probe(settings: DiscordSettings) -> TokenCheck:
    """``GET /users/@me`` with the bot token."""
    url = settings.api_url.rstrip("/") + "/users/@me"
    headers = {
        "Authorization": f"Bot {secret(settings.bot_token)}",
        "User-Agent": "DiscordBot (https://openkoi.dev, 1)",
    }
    status, body = fetch_json(url, headers)
    if status == 200 and body.get("id"):
        return TokenCheck(True, f"discord: /users/@me accepts the token (bot {body.get('username')})")
    return TokenCheck(False, f"discord: /users/@me refused the token (HTTP {status})")


DISCORD = PlatformSpec(
    name="discord",
    settings=DiscordSettings,
    env={"DISCORD_BOT_TOKEN": "bot_token", "DISCORD_API_URL": "api_url", "DISCORD_GATEWAY_URL": "gateway_url"},
    setup="DISCORD_BOT_TOKEN",
    markup=MARKUP,
    buttons=CODEC,
    probe=probe,
    digest_key="discord_channels",
    loggers=("discord",),
    adapter=lazy_adapter("bots.discord.adapter", "DiscordAdapter"),
    order=20,
    setup_hints=setup_hints,
)
