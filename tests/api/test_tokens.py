"""API tokens: made by `openkoi api token create` (printed once, only the hash written, config 0600, the file's
comments kept), recognised by hash in constant time, with scopes; configured as [api.tokens.NAME], [api] token
or OPENKOI_API_TOKEN."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from bots.api.ratelimit import RateLimiter
from bots.api.settings import ApiSettings
from bots.api.tokens import TokenSet, token_hash
from bots.config import load_service_settings
from bots.terminal.cli import cli
from core.errors import ConfigError


def test_token_create_prints_the_token_once_and_writes_only_its_hash(home: Path) -> None:
    config = home / "config.toml"
    home.mkdir(parents=True, exist_ok=True)
    config.write_text('# the team\'s settings\nmodel = "openai/fake"  # keep this comment\n', encoding="utf-8")
    os.chmod(config, 0o644)
    result = CliRunner().invoke(cli, ["api", "token", "create", "ci", "--scopes", "tasks:write,tasks:read"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("okoi_") and len(token) > 40
    text = config.read_text(encoding="utf-8")
    assert token not in text and token_hash(token) in text
    assert "# keep this comment" in text and "# the team's settings" in text
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    api = load_service_settings().api
    assert api.tokens["ci"].scopes == ["tasks:write", "tasks:read"]
    found = TokenSet.from_settings(api).authenticate(token)
    assert found is not None and found.name == "ci" and found.allows("tasks:read") and not found.allows("approve")

    again = CliRunner().invoke(cli, ["api", "token", "create", "ci", "--scopes", "approve"])
    assert again.exit_code == 2 and "already has a token named 'ci'" in again.output
    replaced = CliRunner().invoke(cli, ["api", "token", "create", "ci", "--scopes", "approve", "--replace"])
    assert replaced.exit_code == 0
    assert TokenSet.from_settings(load_service_settings().api).authenticate(token) is None, "the old one is gone"

    listed = CliRunner().invoke(cli, ["api", "token", "list"])
    assert "ci\tapprove" in listed.output and "okoi_" not in listed.output
    assert CliRunner().invoke(cli, ["api", "token", "revoke", "ci"]).exit_code == 0
    assert load_service_settings().api.tokens == {}


def test_token_create_refuses_unknown_scopes_and_bad_names(home: Path) -> None:
    bad_scope = CliRunner().invoke(cli, ["api", "token", "create", "ci", "--scopes", "tasks:delete"])
    assert bad_scope.exit_code == 2 and "not a scope" in bad_scope.output
    bad_name = CliRunner().invoke(cli, ["api", "token", "create", "no spaces", "--scopes", "approve"])
    assert bad_name.exit_code == 2
    assert not (home / "config.toml").exists()


def test_the_environment_token_is_the_full_scope_default(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENKOI_API_TOKEN", "a-long-enough-token-value")
    tokens = TokenSet.from_settings(load_service_settings().api)
    found = tokens.authenticate("a-long-enough-token-value")
    assert found is not None and found.name == "default"
    assert all(found.allows(scope) for scope in ("tasks:write", "tasks:read", "approve", "admin"))
    assert tokens.authenticate("a-long-enough-token-valuE") is None


def test_a_malformed_hash_or_scope_in_config_is_an_error_naming_the_key(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text('[api.tokens.ci]\nhash = "md5:abc"\nscopes = ["tasks:write"]\n')
    with pytest.raises(ConfigError, match=r"api\.tokens\.ci\.hash"):
        load_service_settings()
    (home / "config.toml").write_text(f'[api.tokens.ci]\nhash = "{token_hash("x")}"\nscopes = ["root"]\n')
    with pytest.raises(ConfigError, match=r"api\.tokens\.ci\.scopes"):
        load_service_settings()


def test_the_rate_limiter_refills_at_its_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2.0, burst=2, clock=lambda: now[0])
    assert [limiter.take("a"), limiter.take("a")] == [0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.5)
    assert limiter.take("b") == 0.0, "each key its own bucket"
    now[0] = 0.5
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0


def test_no_token_means_no_api() -> None:
    assert not TokenSet.from_settings(ApiSettings())
    assert not ApiSettings().configured
