"""Slack as a registered chat platform (entry point ``slack`` in ``openkoi.platforms``). Imports no Slack SDK."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bots.chat.probe import fetch_json, secret
from bots.chat.spec import PlatformSpec, TokenCheck
from bots.slack.blocks import CODEC
from bots.slack.markup import SLACK as MARKUP
from bots.slack.settings import SlackSettings

if TYPE_CHECKING:
    from bots.chat.desk import ConfirmationDesk
    from bots.chat.ingress import Ingress
    from bots.chat.platform import Adapter


def probe(settings: SlackSettings) -> TokenCheck:
    """``auth.test`` with the bot token."""
    url = settings.api_url.rstrip("/") + "/auth.test"
    status, body = fetch_json(url, {"Authorization": f"Bearer {secret(settings.bot_token)}"}, method="POST")
    if status == 200 and body.get("ok"):
        return TokenCheck(True, f"slack: auth.test accepts the token (bot {body.get('user')}, {body.get('team')})")
    return TokenCheck(False, f"slack: auth.test refused the token ({body.get('error', status)})")


def adapter(settings: SlackSettings, ingress: Ingress, desk: ConfirmationDesk) -> Adapter:
    from bots.slack.adapter import SlackAdapter  # slack-bolt and slack_sdk load only for a running service

    return SlackAdapter(settings, ingress, desk)


SLACK = PlatformSpec(
    name="slack",
    settings=SlackSettings,
    env={
        "SLACK_BOT_TOKEN": "bot_token",
        "SLACK_SIGNING_SECRET": "signing_secret",
        "SLACK_APP_TOKEN": "app_token",
        "SLACK_API_URL": "api_url",
    },
    setup="SLACK_BOT_TOKEN + SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN)",
    markup=MARKUP,
    buttons=CODEC,
    probe=probe,
    digest_key="slack_channels",
    loggers=("slack_sdk", "slack_bolt"),
    adapter=adapter,
    order=10,
)
