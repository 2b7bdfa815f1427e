"""The service's own secrets are redacted: the registry, deep scrubbing of engine events, and log records."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bots.chat.platform import Outgoing, Reply
from bots.config import service_settings_model
from core.events import TaskFinished
from core.models import LoopDecision, TaskStatus
from core.outputs import Agency, AgencyVote, Vote
from core.secrets import SECRETS, SecretValues, environment_secrets, install_log_redaction, secret_fields

TOKEN = "xoxb-1111-2222-abcdefghijklmnop"


@pytest.fixture
def registered() -> Iterator[list[str]]:
    added = SECRETS.add([TOKEN])
    yield added
    SECRETS.remove(added)


def test_values_are_replaced_longest_first_and_short_ones_ignored() -> None:
    values = SecretValues()
    values.add(["abcdefgh", "abcdefgh-and-more", "short"])
    assert values.redact("x abcdefgh-and-more y abcdefgh z short") == "x [redacted] y [redacted] z short"
    values.remove(["abcdefgh-and-more"])
    assert values.redact("abcdefgh-and-more") == "[redacted]-and-more"
    values.add(["abcdefgh"])
    values.remove(["abcdefgh"])
    assert values.redact("abcdefgh") == "[redacted]", "still registered by its other owner"
    values.remove(["abcdefgh"])
    assert not values and values.redact("abcdefgh") == "abcdefgh"


def test_scrub_reaches_into_events_and_keeps_enums(registered: list[str]) -> None:
    vote = AgencyVote(agency=Agency.GUARDIAN, vote=Vote.BLOCK, reason=f"saw {TOKEN}")
    event = TaskFinished("t1", TaskStatus.DONE, LoopDecision.ACCEPT, f"out {TOKEN}", 0.9, 1, 10, 0.0, 0, f"[{TOKEN}]")
    clean = SECRETS.scrub(event)
    assert clean.output == "out [redacted]" and clean.reason == "[[redacted]]"
    assert clean.status is TaskStatus.DONE and clean.decision is LoopDecision.ACCEPT
    scrubbed_vote = SECRETS.scrub({"votes": (vote,)})["votes"][0]
    assert scrubbed_vote.reason == "saw [redacted]" and scrubbed_vote.vote is Vote.BLOCK
    assert vote.reason == f"saw {TOKEN}", "the original is not modified"


def test_every_outgoing_message_and_reply_is_redacted(registered: list[str]) -> None:
    assert Outgoing(f"token: {TOKEN}").text == "token: [redacted]"
    assert Reply(f"error: {TOKEN}", private=True).text == "error: [redacted]"


def test_log_records_are_redacted_when_made_whoever_makes_them(
    registered: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    install_log_redaction()
    caplog.set_level(logging.DEBUG)
    logging.getLogger("telegram.ext.ExtBot").debug("Set Bot API URL: %s", f"https://api.example/bot{TOKEN}")
    try:
        raise RuntimeError(f"Client error for url 'https://api.example/bot{TOKEN}/getMe'")
    except RuntimeError:
        logging.getLogger("httpx").exception("request failed")
    assert TOKEN not in caplog.text
    assert "Set Bot API URL: https://api.example/bot[redacted]" in caplog.text
    assert "bot[redacted]/getMe" in caplog.text


def test_the_service_settings_and_environment_name_their_secrets() -> None:
    service = service_settings_model().model_validate(
        {
            "slack": {"bot_token": TOKEN, "signing_secret": "signing-secret-1"},
            "telegram": {"webhook_secret": "hook-1234"},
        }
    )
    assert set(secret_fields(service)) == {TOKEN, "signing-secret-1", "hook-1234"}
    env = {
        "OPENAI_API_KEY": "sk-live-1",
        "GITHUB_TOKEN": "ghp_x",
        "AWS_ACCESS_KEY_ID": "AKIA1",
        "HOME": "/home/me",
        "MONKEY": "not a credential, just a word ending in KEY",
    }
    assert set(environment_secrets(env)) == {"sk-live-1", "ghp_x", "AKIA1"}
