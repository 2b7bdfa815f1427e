"""The chat service's settings: platform variables, config.toml sections, errors that name the source."""

from __future__ import annotations

from pathlib import Path

import pytest

from bots.config import ServiceSettings, load_service_settings
from bots.discord.settings import DiscordSettings
from bots.slack.settings import SlackSettings
from bots.telegram.settings import TelegramSettings
from core.config import load_settings
from core.errors import ConfigError


class Sections:
    """The three platforms' sections of a ``ServiceSettings``, typed (the settings class is built from the registry)."""

    def __init__(self, s: ServiceSettings) -> None:
        self.serve = s.serve
        self.slack = s.section(SlackSettings)
        self.discord = s.section(DiscordSettings)
        self.telegram = s.section(TelegramSettings)


def load() -> Sections:
    return Sections(load_service_settings())


@pytest.fixture
def clean(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL", "DISCORD_BOT_TOKEN",
                "DISCORD_API_URL", "DISCORD_GATEWAY_URL", "TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET",
                "TELEGRAM_API_URL"):  # fmt: skip
        monkeypatch.delenv(key, raising=False)
    home.mkdir(parents=True, exist_ok=True)
    return home


def test_defaults_are_the_real_services_and_everything_is_off(clean: Path) -> None:
    s = load()
    assert (s.serve.host, s.serve.port) == ("127.0.0.1", 9742)
    assert s.slack.api_url == "https://slack.com/api/"
    assert s.discord.api_url.startswith("https://discord.com/api")
    assert s.telegram.api_url == "https://api.telegram.org/bot"
    assert s.slack.off_reason() == "SLACK_BOT_TOKEN is not set"
    assert s.discord.off_reason() == "DISCORD_BOT_TOKEN is not set"
    assert s.telegram.off_reason() == "TELEGRAM_BOT_TOKEN is not set"


def test_platform_variables_switch_platforms_on(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:1/api/")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "1:a")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "sec_ret-1")
    s = load()
    assert s.slack.off_reason() is None and s.slack.resolved_mode == "http"
    assert s.slack.bot_token is not None and s.slack.bot_token.get_secret_value() == "xoxb-1"
    assert s.slack.api_url == "http://127.0.0.1:1/api/"
    assert s.telegram.off_reason() is None and s.telegram.resolved_mode == "webhook"


def test_slack_without_signing_secret_uses_socket_mode_when_an_app_token_is_set(
    clean: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    assert "SLACK_SIGNING_SECRET" in (load().slack.off_reason() or "")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1")
    s = load()
    assert s.slack.resolved_mode == "socket" and s.slack.off_reason() is None


def test_config_file_sections_and_env_precedence(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean / "config.toml").write_text(
        '[serve]\nport = 8000\nworkers = 8\n[discord]\nbot_token = "from-file"\nguild_ids = [42]\n'
        '[discord.access]\napprovers = ["1"]\n[iteration]\nmax_iterations = 4\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("DISCORD_BOT_TOKEN", "from-env")
    s = load()
    assert (s.serve.port, s.serve.workers) == (8000, 8)
    assert s.discord.bot_token is not None and s.discord.bot_token.get_secret_value() == "from-env"
    assert s.discord.guild_ids == [42] and s.discord.access.approvers == ["1"]
    # The engine's own strict settings accept a file that also holds the service's sections.
    assert load_settings().iteration.max_iterations == 4


def test_a_bad_value_in_the_file_names_the_file_and_key(clean: Path) -> None:
    (clean / "config.toml").write_text('[serve]\nport = "nine"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_service_settings()
    assert str(clean / "config.toml") in str(err.value) and "serve.port" in str(err.value)


def test_a_misspelt_key_is_an_error(clean: Path) -> None:
    (clean / "config.toml").write_text("[slack]\nsigning_secrte = 'x'\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_service_settings()
    assert "slack.signing_secrte" in str(err.value)


def test_openkoi_prefixed_variables_set_any_key(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENKOI_SLACK__EDIT_INTERVAL", "2")
    monkeypatch.setenv("OPENKOI_SERVE__WORKERS", "9")
    s = load()
    assert s.slack.edit_interval == 2.0 and s.serve.workers == 9


@pytest.mark.parametrize(
    "toml",
    [
        "[slack]\nbot_tokn = 'xoxb-very-secret-value-1'\n",  # misspelt: the value is still a token
        "[telegram]\nbot_token = 12345678901234\n",  # wrong type
        "[discord]\nbot_token = ['xoxb-very-secret-value-1']\n",  # a list where a string belongs
    ],
)
def test_config_errors_never_echo_a_secret_value(clean: Path, toml: str) -> None:
    """Issue 8, defect 6: an error about a secret key (or a misspelt key) names the key, never its value."""
    (clean / "config.toml").write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_service_settings()
    message = str(err.value)
    assert str(clean / "config.toml") in message
    assert "xoxb-very-secret-value-1" not in message and "12345678901234" not in message
    assert "bot_tok" in message
