"""Slack as a registered chat platform (entry point ``slack`` in ``openkoi.platforms``). Imports no Slack SDK."""

from __future__ import annotations

from bots.chat.probe import fetch_json, secret
from bots.chat.spec import PlatformSpec, TokenCheck, lazy_adapter
from bots.slack.blocks import CODEC
from bots.slack.cli import command_group
from bots.slack.markup import SLACK as MARKUP
from bots.slack.settings import SlackSettings


def probe(settings: SlackSettings) -> TokenCheck:
    """``auth.test`` with the bot token."""
    url = settings.api_url.rstrip("/") + "/auth.test"
    status, body = fetch_json(url, {"Authorization": f"Bearer {secret(settings.bot_token)}"}, method="POST")
    if status == 200 and body.get("ok"):
        return TokenCheck(True, f"slack: auth.test accepts the token (bot {body.get('user')}, {body.get('team')})")
    return TokenCheck(False, f"slack: auth.test refused the token ({body.get('error', status)})")


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
    adapter=lazy_adapter("bots.slack.adapter", "SlackAdapter"),
    order=10,
    cli=command_group,
)
