"""``openkoi slack manifest --host URL``: the shipped manifest (the one file, read, never copied) with the public
address filled in everywhere, and hosts that could send Slack elsewhere refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from bots.slack.manifest import EVENTS_PATH, EXAMPLE_ORIGIN, manifest_text, public_origin
from bots.terminal.cli import cli
from core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]


def manifest(*args: str) -> tuple[int, str]:
    done = CliRunner().invoke(cli, ["slack", "manifest", *args])
    return done.exit_code, done.output


def request_urls(document: dict[str, object]) -> list[str]:
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("url", "request_url") and isinstance(value, str):
                    found.append(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    return found


def test_the_manifest_is_the_one_in_deploy() -> None:
    assert manifest_text() == (ROOT / "deploy" / "slack-app-manifest.yaml").read_text(encoding="utf-8")


def test_the_printed_manifest_is_the_shipped_one_with_the_host_in_every_request_url() -> None:
    code, out = manifest("--host", "https://OpenKoi.Acme.dev/")
    assert code == 0, out
    printed = yaml.safe_load(out)
    shipped = yaml.safe_load(manifest_text())
    urls = request_urls(printed)
    assert urls == ["https://openkoi.acme.dev/slack/events"] * 3
    assert EXAMPLE_ORIGIN not in out and "example" not in out
    # Nothing else changed: put the example back and it is the shipped document.
    assert yaml.safe_load(out.replace("https://openkoi.acme.dev", EXAMPLE_ORIGIN)) == shipped
    assert request_urls(shipped) == [EXAMPLE_ORIGIN + EVENTS_PATH] * 3


@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("bot.acme.dev", "https://bot.acme.dev"),
        ("https://bot.acme.dev:8443", "https://bot.acme.dev:8443"),
        ("https://bot.acme.dev:443/", "https://bot.acme.dev"),
        ("https://203.0.113.7", "https://203.0.113.7"),
        ("https://[2001:db8::1]:9742", "https://[2001:db8::1]:9742"),
        ("  https://bot.acme.dev.  ", "https://bot.acme.dev"),
    ],
)
def test_an_https_origin_is_taken(host: str, origin: str) -> None:
    assert public_origin(host) == origin
    code, out = manifest("--host", host)
    assert code == 0 and request_urls(yaml.safe_load(out)) == [origin + EVENTS_PATH] * 3


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("http://bot.acme.dev", "must be an https address"),
        ("ftp://bot.acme.dev", "must be an https address"),
        ("https://bot.acme.dev/openkoi", "no path, query or fragment"),
        ("https://bot.acme.dev/../slack", "no path, query or fragment"),
        ("https://bot.acme.dev?x=1", "no path, query or fragment"),
        ("https://bot.acme.dev#top", "no path, query or fragment"),
        ("https://bot.acme.dev?", "no path, query or fragment"),
        ("https://user:pw@bot.acme.dev", "user name or password"),
        ("https://bot.acme.dev@evil.example", "user name or password"),
        ("https://evil.example\\.acme.dev", "host name that is not one"),
        ("https://bot%2eacme.dev", "host name that is not one"),
        ("https://bot_acme.dev", "host name that is not one"),
        ("https://-bot.acme.dev", "host name that is not one"),
        ("https://", "host name that is not one"),
        ("https://bot.acme.dev:0", "port that is not one"),
        ("https://bot.acme.dev:70000", "port that is not one"),
        ("https://bot.acme.dev:http", "port that is not one"),
        ("https://bot.acme.dev\n  url: https://evil.example", "must be the public https address"),
        ("", "must be the public https address"),
    ],
)
def test_a_host_that_is_not_a_bare_https_origin_is_refused(host: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why.replace("?", r"\?")):
        public_origin(host)
    code, out = manifest("--host", host)
    assert code == 2, out
    assert "Invalid value for --host" in out and "slash_commands" not in out


def test_the_host_is_required() -> None:
    code, out = manifest()
    assert code == 2 and "Missing option '--host'" in out
