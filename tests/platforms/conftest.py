"""What the platform tests share: no proxy between them and their fakes on 127.0.0.1, discord.py's globals put
back (``tests.support``); the acting tests' runbook ``marker``."""

from tests.platforms.runbook_acting import marker
from tests.support import discord_globals, no_proxy

__all__ = ["discord_globals", "marker", "no_proxy"]  # fixtures; no_proxy is autouse here
