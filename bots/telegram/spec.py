"""Telegram as a registered chat platform (entry point ``telegram`` in ``openkoi.platforms``). Imports no
python-telegram-bot: that loads with the adapter."""

from __future__ import annotations

from bots.chat.probe import fetch_json, secret
from bots.chat.spec import PlatformSpec, TokenCheck, lazy_adapter
from bots.telegram.callback import CODEC
from bots.telegram.markup import TELEGRAM as MARKUP
from bots.telegram.settings import TelegramSettings


def probe(settings: TelegramSettings) -> TokenCheck:
    """``getMe`` with the bot token (which is part of the URL: never show the URL)."""
    status, body = fetch_json(f"{settings.api_url}{secret(settings.bot_token)}/getMe", {})
    if status == 200 and body.get("ok"):
        return TokenCheck(True, f"telegram: getMe accepts the token (@{body.get('result', {}).get('username')})")
    detail = body.get("description") or f"HTTP {status}"
    return TokenCheck(False, f"telegram: getMe refused the token ({detail})")


TELEGRAM = PlatformSpec(
    name="telegram",
    settings=TelegramSettings,
    env={"TELEGRAM_BOT_TOKEN": "bot_token", "TELEGRAM_WEBHOOK_SECRET": "webhook_secret", "TELEGRAM_API_URL": "api_url"},
    setup="TELEGRAM_BOT_TOKEN",
    markup=MARKUP,
    buttons=CODEC,
    probe=probe,
    digest_key="telegram_chats",
    loggers=("telegram",),
    adapter=lazy_adapter("bots.telegram.adapter", "TelegramAdapter"),
    order=30,
)
