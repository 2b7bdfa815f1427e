"""The CLI's click groups: "did you mean" for a misspelt subcommand, command names that are never tasks
(``bots.command_names``), and ``openkoi "task"`` as short for ``openkoi think "task"``."""

from __future__ import annotations

import shlex

import click

from bots.command_names import named_command
from bots.terminal.command import close_command


class SuggestingGroup(click.Group):
    """An unknown subcommand gets "did you mean" (click itself only says "No such command"), and one the
    original CLI had but this one does not yet (``openkoi soul evolve``) says what to use instead."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            named = named_command([ctx.info_name or "", *args]) if ctx.parent is not None else None
            if named is not None and not named.form.in_terminal and len(named.form.words) == 2:
                ctx.fail(named.not_yet(f"openkoi think {shlex.join([ctx.info_name or '', *args])}"))
            near = close_command(name, self.list_commands(ctx), cutoff=0.6)
            if near is not None:
                ctx.fail(f"No such command {name!r}. Did you mean {near!r}?")
        return super().resolve_command(ctx, args)


class DefaultToThink(SuggestingGroup):
    """``openkoi "task"`` is short for ``openkoi think "task"``, but command names are never tasks.

    Words that name a command (``openkoi init``, ``openkoi "soul show"``) run it when it exists and
    otherwise are refused (exit 2) saying what to use instead: nothing is stored and no model is asked.
    A first word that is close to a command name is refused with a suggestion too: running ``openkoi
    stauts`` as a task would spend money on a typo. A task of several words (``openkoi "summarise the
    README"``) is never mistaken for a command, and ``openkoi think …`` is always a task.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            first = args[0]
            # "soul show" in one argument names the command as two do; the arguments after it stay whole.
            named = named_command([*first.split(), *args[1:]])
            if named is not None and named.form.words[0] in self.commands:
                return super().parse_args(ctx, list(named.words))
            if named is not None:
                ctx.fail(named.not_yet(f"openkoi think {shlex.join(args)}"))
            near = close_command(first, list(self.commands)) if len(first.split()) == 1 else None
            if near is not None:
                ctx.fail(
                    f"No such command {first!r}. Did you mean {near!r}? "
                    f"To run it as a task: openkoi think {shlex.join(args)}"
                )
            args = ["think", *args]
        return super().parse_args(ctx, args)
