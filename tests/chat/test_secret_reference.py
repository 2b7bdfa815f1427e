"""A platform secret in config.toml may be a ``${NAME}`` reference (what ``openkoi init`` writes when asked): it is
the variable's value, and an unset variable leaves the secret unset, so the platform is off saying what is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from bots.config import load_service_settings
from bots.slack.settings import SlackSettings

CONFIG = """
[slack]
bot_token = "${TEAM_SLACK_TOKEN}"
signing_secret = "${TEAM_SLACK_SIGNING}"
api_url = "${TEAM_SLACK_TOKEN}"
"""


@pytest.fixture
def config(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for variable in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "TEAM_SLACK_SIGNING"):
        monkeypatch.delenv(variable, raising=False)
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def test_a_reference_is_the_variable_s_value(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAM_SLACK_TOKEN", "xoxb-from-the-environment")
    monkeypatch.setenv("TEAM_SLACK_SIGNING", "signing-from-the-environment")
    slack = load_service_settings().section(SlackSettings)
    assert slack.bot_token is not None and slack.bot_token.get_secret_value() == "xoxb-from-the-environment"
    assert slack.off_reason() is None
    # Only secrets are references: any other key keeps its text.
    assert slack.api_url == "${TEAM_SLACK_TOKEN}"


def test_an_unset_variable_leaves_the_secret_unset(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAM_SLACK_TOKEN", "xoxb-from-the-environment")
    slack = load_service_settings().section(SlackSettings)
    assert slack.signing_secret is None
    assert slack.off_reason() == (
        "SLACK_SIGNING_SECRET is not set (needed to verify requests), nor SLACK_APP_TOKEN for Socket Mode"
    )
    monkeypatch.setenv("TEAM_SLACK_TOKEN", "")
    assert load_service_settings().section(SlackSettings).bot_token is None
