"""``openkoi init``: answers from options or prompts (click's CliRunner input), each checked live against the fake
model server and the platform fakes (their real wire formats on 127.0.0.1), written to config.toml as 0600, secrets
as ``${VAR}`` references or values, never printed; an existing config is updated only when the person says so."""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bots.terminal.cli import cli
from tests.fakes import scripts
from tests.fakes.model_server import FakeModelServer, Reply
from tests.fakes.threaded import in_thread
from tests.platforms.discord.fake_api import FakeDiscord
from tests.platforms.slack.fake_api import FakeSlack
from tests.platforms.telegram.fake_api import FakeTelegram

PLATFORM_VARIABLES = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_API_URL",
    "DISCORD_BOT_TOKEN",
    "DISCORD_API_URL",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_WEBHOOK_SECRET",
    "TELEGRAM_API_URL",
)


@pytest.fixture
def server() -> Iterator[FakeModelServer]:
    fake = FakeModelServer()
    scripts.install_defaults(fake)
    fake.start_in_thread()
    yield fake
    fake.stop_thread()


@pytest.fixture
def config(home: Path, server: FakeModelServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where init writes, with the fake model server as the OpenAI-compatible server and no platform variables."""
    for variable in PLATFORM_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    return home / "config.toml"


def init(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["init", *args], input=input)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_no_input_checks_the_model_and_the_token_and_writes_references(
    config: Path, server: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with in_thread(FakeSlack(bot_token="xoxb-right-token")) as slack:
        monkeypatch.setenv("SLACK_API_URL", slack.api_url)
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-right-token")
        monkeypatch.setenv("SLACK_SIGNING_SECRET", "signing-secret-value")
        done = init("--no-input", "-m", "openai/fake", "-p", "slack")
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert any(line.startswith("ok    openai/fake answers (one-token call, ") for line in lines), lines
    assert "ok    slack: auth.test accepts the token (bot openkoi, Fake Team)" in lines
    assert [r["max_tokens"] for r in server.requests] == [1]
    assert mode(config) == 0o600
    written = tomllib.loads(config.read_text(encoding="utf-8"))
    assert written == {
        "model": "openai/fake",
        "slack": {"bot_token": "${SLACK_BOT_TOKEN}", "signing_secret": "${SLACK_SIGNING_SECRET}"},
    }
    assert "SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET" in done.output
    assert "xoxb-right-token" not in done.output and "signing-secret-value" not in done.output


def test_no_input_with_a_refused_token_says_so_and_writes_nothing(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with in_thread(FakeSlack(bot_token="xoxb-right-token")) as slack:
        monkeypatch.setenv("SLACK_API_URL", slack.api_url)
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-wrong-token")
        monkeypatch.setenv("SLACK_SIGNING_SECRET", "signing-secret-value")
        done = init("--no-input", "-m", "openai/fake", "-p", "slack", "--secrets", "value")
    assert done.exit_code == 1, done.output
    assert "fail  slack: auth.test refused the token (invalid_auth)" in done.output
    assert "slack: the check failed (see above); nothing was written" in done.output
    assert not config.exists()
    assert "xoxb-wrong-token" not in done.output


def test_a_model_that_refuses_the_key_is_a_failed_check(config: Path, server: FakeModelServer) -> None:
    server.script.default("execute", Reply(status=401, error_message="invalid api key"))
    done = init("--no-input", "-m", "openai/fake")
    assert done.exit_code == 1, done.output
    assert f"fail  openai/fake one-token call: model unavailable: {server.url} rejected the API key" in done.output
    assert not config.exists()


def test_prompts_take_hidden_secrets_and_write_them_as_values(config: Path) -> None:
    with in_thread(FakeTelegram()) as telegram:
        os.environ["TELEGRAM_API_URL"] = telegram.base_url
        try:
            answers = ["openai/fake", "", "telegram", telegram.token, "", "value"]
            done = init(input="\n".join(answers) + "\n")
        finally:
            del os.environ["TELEGRAM_API_URL"]
    assert done.exit_code == 0, done.output
    assert f"ok    telegram: getMe accepts the token (@{telegram.username})" in done.output
    assert telegram.token not in done.output, "a hidden prompt echoes nothing, and no line repeats the secret"
    assert mode(config) == 0o600
    written = tomllib.loads(config.read_text(encoding="utf-8"))
    assert written == {"model": "openai/fake", "telegram": {"bot_token": telegram.token}}


def test_a_refused_token_can_be_changed_or_kept(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with in_thread(FakeDiscord(token="right-discord-token")) as discord:
        monkeypatch.setenv("DISCORD_API_URL", discord.api_base)
        # A token pasted at the retry / change / keep prompt by mistake is refused without being repeated.
        answers = ["openai/fake", "", "discord", "wrong-discord-token", "pasted-discord-token", "change"]
        answers += ["right-discord-token", "ref"]
        changed = init(input="\n".join(answers) + "\n")
        assert changed.exit_code == 0, changed.output
        assert "fail  discord: /users/@me refused the token (HTTP 401)" in changed.output
        assert "ok    discord: /users/@me accepts the token (bot openkoi)" in changed.output
        assert tomllib.loads(config.read_text(encoding="utf-8"))["discord"] == {"bot_token": "${DISCORD_BOT_TOKEN}"}
        config.unlink()
        kept = init(input="\n".join(["openai/fake", "", "discord", "wrong-discord-token", "keep", "value"]) + "\n")
    assert kept.exit_code == 0, kept.output
    assert tomllib.loads(config.read_text(encoding="utf-8"))["discord"] == {"bot_token": "wrong-discord-token"}
    for output in (changed.output, kept.output):
        assert "wrong-discord-token" not in output and "right-discord-token" not in output
    # (The runner echoes what was typed at a visible prompt, as a terminal does: once, and not again in the error.)
    assert "Error: answer one of: retry, change, keep" in changed.output
    assert changed.output.count("pasted-discord-token") == 1


def test_an_existing_config_is_kept_unless_the_person_says_so(config: Path) -> None:
    config.parent.mkdir(parents=True, exist_ok=True)
    before = '# our team\'s settings\nmodel = "anthropic/claude-sonnet-4-5"\n\n[iteration]\nmax_iterations = 5\n'
    config.write_text(before, encoding="utf-8")
    refused = init("--no-input", "-m", "openai/fake", "--no-check")
    assert refused.exit_code == 2 and "exists: pass --force to update it" in refused.output
    declined = init(input="n\n")
    assert declined.exit_code == 6 and "Nothing written." in declined.output
    assert config.read_text(encoding="utf-8") == before
    forced = init("--no-input", "-m", "openai/fake", "--force")
    assert forced.exit_code == 0, forced.output
    after = config.read_text(encoding="utf-8")
    assert after.startswith("# our team's settings\n") and "max_iterations = 5" in after
    assert tomllib.loads(after)["model"] == "openai/fake"
    assert mode(config) == 0o600


def test_an_openai_compatible_server_is_written_as_a_provider(
    config: Path, server: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.setenv("LAB_KEY", "sk-lab-secret-key")
    args = ("--no-input", "-m", "lab/fake", "--server", server.url, "--server-key-env", "LAB_KEY")
    referenced = init(*args)
    assert referenced.exit_code == 0, referenced.output
    assert tomllib.loads(config.read_text(encoding="utf-8"))["providers"] == {
        "lab": {"base_url": server.url, "models": ["fake"], "api_key_env": "LAB_KEY"}
    }
    valued = init(*args, "--secrets", "value", "--force")
    assert valued.exit_code == 0, valued.output
    assert tomllib.loads(config.read_text(encoding="utf-8"))["providers"]["lab"]["api_key"] == "sk-lab-secret-key"
    assert [r["model"] for r in server.requests] == ["fake", "fake"]
    assert "sk-lab-secret-key" not in referenced.output + valued.output


def test_an_unknown_platform_is_refused(config: Path) -> None:
    done = init("--no-input", "-m", "openai/fake", "-p", "irc", "--no-check")
    assert done.exit_code == 2 and "not a chat platform here: irc" in done.output
    # The web page has no bot token to ask for: it is on with an API token.
    page = init("--no-input", "-m", "openai/fake", "-p", "web", "--no-check")
    assert page.exit_code == 2 and "web: nothing to set up with openkoi init; it needs an API token" in page.output
    assert not config.exists()


def test_a_model_not_written_as_provider_model_is_asked_again(config: Path) -> None:
    done = init("--no-check", input="\n".join(["gpt-4.1", "", "openai/fake", "", ""]) + "\n")
    assert done.exit_code == 0, done.output
    assert "the model is written as provider/model, not 'gpt-4.1'" in done.output
    assert tomllib.loads(config.read_text(encoding="utf-8")) == {"model": "openai/fake"}
