"""What every terminal command shares: its exit codes, the opened store, the one runner, and the rule that
finds the command (or job) a mistyped word meant. ``cli`` and the commands' modules all import this, and it
imports none of them, so no command module needs ``cli``.

Nothing heavy loads here: settings and the store are imported inside ``opened_store``.
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import click

from core.errors import OpenKoiError

if TYPE_CHECKING:
    from core.config import Settings
    from core.store import Store

EXIT_DONE = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BLOCKED = 3
EXIT_ABORTED = 4
EXIT_ESCALATED = 5
EXIT_CANCELLED = 6
EXIT_BELOW_BAR = 7  # finished, but its result scored below the quality bar

# How close a word must be to a command name to count as a misspelling of it (difflib's ratio):
# "stauts" → status is 0.83, "thnk" → think 0.89, while ordinary words like "review" or "deploy"
# are far below.
CLOSE_TO_COMMAND = 0.75


def close_command(word: str, names: list[str], cutoff: float = CLOSE_TO_COMMAND) -> str | None:
    """The command ``word`` is probably a misspelling of, or None."""
    found = difflib.get_close_matches(word.strip().lower(), names, n=1, cutoff=cutoff)
    return found[0] if found else None


@asynccontextmanager
async def opened_store() -> AsyncIterator[tuple[Settings, Store]]:
    """The settings, and the store they name, open for the block and closed after it, whatever happens."""
    from core.config import load_settings
    from core.store import Store

    settings = load_settings()
    async with Store(settings.db_path) as store:
        yield settings, store


def run(work: Coroutine[Any, Any, int | None]) -> int:
    """Run a command's coroutine and return its exit code (``EXIT_DONE`` when it returns none). An error a
    person can fix (``OpenKoiError``) is printed plainly and is ``EXIT_USAGE``."""
    try:
        code = asyncio.run(work)
    except OpenKoiError as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_USAGE
    return EXIT_DONE if code is None else code
