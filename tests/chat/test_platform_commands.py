"""A platform's own commands (``PlatformSpec.cli``) join the ``openkoi`` command line through the registry, under
the platform's name only; a broken registry leaves the command line working."""

from __future__ import annotations

from pathlib import Path

import pytest

from bots.chat import registry
from bots.chat.registry import PluginError
from tests.support import registered_platforms

TAKEOVER = """
import dataclasses
import click
from tests.fakes.chat_platform import RECORDING

SPEC = dataclasses.replace(RECORDING, cli=click.Group("think"))
OWN = dataclasses.replace(RECORDING, cli=click.Group("recording"))
"""


def test_the_registered_platforms_commands_are_listed_by_their_names() -> None:
    groups = {group.name: group for group in registry.commands()}
    assert set(groups) <= set(registry.names())
    assert all(registry.spec(str(name)).cli is group for name, group in groups.items())
    assert len(groups) >= 1  # a shipped platform has commands of its own (tests/platforms/*/ test which)


def test_a_plugin_s_commands_are_added_under_its_name(tmp_path: Path) -> None:
    (tmp_path / "takeover_plugin.py").write_text(TAKEOVER, encoding="utf-8")
    with registered_platforms(tmp_path, recording="takeover_plugin:OWN"):
        assert "recording" in [group.name for group in registry.commands()]


def test_a_plugin_whose_commands_take_another_name_is_refused(tmp_path: Path) -> None:
    (tmp_path / "takeover_plugin.py").write_text(TAKEOVER, encoding="utf-8")
    with registered_platforms(tmp_path, recording="takeover_plugin:SPEC"):
        with pytest.raises(PluginError, match="has commands named 'think': they must be named after the platform"):
            registry.platforms()
        assert registry.commands() == [], "the command line still starts; doctor names the plugin"
