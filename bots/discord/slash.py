"""The `/think` application command and what turns an interaction into the shared grammar's terms.

The command has one required ``task`` option (free text through the shared grammar, so ``task:status``
or ``task:cancel 1a2b`` work) plus typed options that become flags. Nothing here talks to Discord.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import discord
from discord import app_commands

from bots.chat import commands
from bots.chat.platform import Actor
from core.text import one_line

THREAD_NAME_LIMIT = 100


def think_text(
    task: str,
    simulate: bool = False,
    iterations: int | None = None,
    quality: float | None = None,
    budget: float | None = None,
    skill: str | None = None,
) -> str:
    """The text the shared `/think` grammar parses for these slash-command options.

    With no option set this is ``task`` unchanged, so ``status``, ``cancel <id>``, ``help`` and
    inline flags work exactly as typed; with options it is ``"<flags> -- <task>"``, where ``--``
    keeps the task verbatim (its own dashes stay text).
    """
    flags = ["--simulate"] if simulate else []
    if iterations is not None:
        flags.append(f"-i {iterations}")
    if quality is not None:
        flags.append(f"--quality {_number(quality)}")
    if budget is not None:
        flags.append(f"--budget {_number(budget)}")
    if skill is not None:
        flags.append(f"--skill {skill.strip() or '-'}")  # a blank name is refused by the grammar, not dropped
    return f"{' '.join(flags)} -- {task}" if flags else task


def _number(value: float) -> str:
    # The grammar takes plain decimals only (no exponent, inf or nan); let it reject the odd ones itself.
    text = repr(value)
    if "e" in text and math.isfinite(value):
        text = f"{value:.12f}".rstrip("0").rstrip(".")
    return text


def thread_name(text: str, fallback: str) -> str:
    """A thread title from the task text: one line, at most 100 characters, never empty."""
    try:
        parsed = commands.parse_command(text)
        title = parsed.description if isinstance(parsed, commands.Think) else text
    except commands.CommandError:
        title = text
    return one_line(title, THREAD_NAME_LIMIT) or one_line(fallback, THREAD_NAME_LIMIT)


def role_ids(user: discord.User | discord.Member) -> frozenset[str]:
    """The ids of the member's roles as the interaction carried them (empty outside a guild).

    ``Member.roles`` keeps only roles found in the guild cache, which is empty for guilds the
    bot sees only through interactions; the raw ids are the truth Discord sent, so prefer them.
    """
    raw = getattr(user, "_roles", None)
    if raw is not None:
        return frozenset(str(r) for r in raw)
    return frozenset(str(r.id) for r in getattr(user, "roles", ()))


def actor_of(user: discord.User | discord.Member) -> Actor:
    return Actor("discord", str(user.id), user.display_name, roles=role_ids(user))


class ThinkHandler(Protocol):
    async def on_think(self, interaction: discord.Interaction[Any], text: str) -> None: ...


def think_command(handler: ThinkHandler) -> app_commands.Command[Any, Any, None]:
    """The `/think` application command; each invocation calls ``handler.on_think`` with the grammar text."""

    @app_commands.command(name="think", description="Ask openkoi to work on a task (or: status, cancel <id>, help)")
    @app_commands.describe(
        task="What you want done, or: status [id] · cancel <id> · approve <id> · deny <id> · help",
        simulate="Deliberate and simulate only; execute nothing",
        iterations="At most this many iterations (1-50)",
        quality="Accept the output at this score (0-1)",
        budget="Spend at most this many US dollars",
        skill="Use this skill by name (see openkoi skills list)",
    )
    async def think(
        interaction: discord.Interaction[Any],
        task: str,
        simulate: bool = False,
        iterations: app_commands.Range[int, 1, 50] | None = None,
        quality: app_commands.Range[float, 0.0, 1.0] | None = None,
        budget: float | None = None,
        skill: str | None = None,
    ) -> None:
        await handler.on_think(interaction, think_text(task, simulate, iterations, quality, budget, skill))

    return think


def is_think(text: str) -> bool:
    """True when the grammar reads ``text`` as a task to start (not a subcommand, not an error)."""
    try:
        return isinstance(commands.parse_command(text), commands.Think)
    except commands.CommandError:
        return False


def cannot_post_in(interaction: discord.Interaction[Any]) -> bool:
    """True when Discord says the bot may not post in the interaction's guild channel (never for DMs)."""
    if interaction.guild_id is None:
        return False
    perms = interaction.app_permissions
    may_send = (
        perms.send_messages_in_threads if isinstance(interaction.channel, discord.Thread) else perms.send_messages
    )
    return not (perms.view_channel and may_send)
