"""Command names are never tasks: the words people know as openkoi commands, and what a bare word or two
that names one means, in the terminal (``openkoi init``) and in chat (``/think soul``) alike.

The names are the original CLI's (the seeds': ``init``, ``chat``, ``connect``, ``soul show``, ``world tools``,
``trust show`` …) and this CLI's own. A text names a command when its first word is a command name and:
it is that word alone; or its second word is a flag (``chat --resume abc1``), one of the command's
subcommands (``trust grant deploy act``) or close to one (``world tols``, a typo); or the command has no
subcommands and the text is two words (``update README``). Anything else (``update the changelog``,
``task 0``) is a task. A named command runs if it exists; otherwise it is answered with what to use instead, and nothing
is stored or asked of a model. To run such words as a task, ask for a task explicitly: ``openkoi think
init`` in the terminal, ``/think -- init`` in chat.

Nothing here imports click or a platform: the terminal and the chat layer each read the same table.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class CommandForm:
    """A command as people type it: ``words`` (one, or a command and its subcommand).

    ``in_terminal``: ``openkoi <words>`` exists. ``instead``: for one that does not exist yet, what to use
    now (a sentence without the final full stop). ``in_chat``: for a terminal command, what does the same
    in chat, if anything."""

    words: tuple[str, ...]
    in_terminal: bool
    instead: str = ""
    in_chat: str = ""

    @property
    def text(self) -> str:
        return " ".join(self.words)


def _forms(name: str, subcommands: Sequence[str], in_terminal: bool, instead: str = "") -> list[CommandForm]:
    return [
        CommandForm((name,), in_terminal, instead),
        *(CommandForm((name, s), in_terminal, instead) for s in subcommands),
    ]


_KEYS = (
    "set the provider's key in the environment (e.g. ANTHROPIC_API_KEY) or an endpoint under [providers.<name>]"
    " in config.toml; `openkoi doctor --live` checks it"
)
_SOUL = "edit the SOUL.md that `openkoi soul show` names; the Sovereign reads it at every task"

_LISTED: tuple[CommandForm, ...] = (
    # The seeds' commands that do not exist (yet): what to use now.
    CommandForm(("setup",), False, "`openkoi doctor` checks the configuration, models, keys and chat platforms"),
    CommandForm(
        ("chat",), False, 'run one task with `openkoi think "…"`, or bring /think to chat with `openkoi serve`'
    ),
    *_forms("connect", ("copilot", "chatgpt", "status"), False, _KEYS),
    *_forms(
        "disconnect",
        ("copilot", "chatgpt", "all"),
        False,
        "unset the provider's key variable, or remove its [providers.<name>] section from config.toml",
    ),
    CommandForm(("dashboard",), False, "`openkoi status --costs`, `openkoi task list` and `openkoi reflect today`"),
    CommandForm(
        ("update",), False, "upgrade openkoi the way it was installed (e.g. `pip install -U -e .` in its checkout)"
    ),
    CommandForm(("world",), True),
    CommandForm(("world", "tools"), True),
    CommandForm(("world", "domains"), True),
    CommandForm(("world", "human"), True),
    CommandForm(("world", "map"), True),
    CommandForm(("soul",), True),
    CommandForm(("soul", "show"), True),
    *(CommandForm(("soul", s), False, _SOUL) for s in ("evolve", "diff", "history")),
    CommandForm(("session", "resume"), False, "a session cannot be resumed; `openkoi session show ID` lists its tasks"),
    # This CLI's own commands (chat answers them by name too: they are never tasks there either).
    *_forms("mind", ("parliament", "agencies", "dissent", "calibrate"), True),
    *_forms("trust", ("show", "grant", "revoke", "audit"), True),
    *_forms("learn", ("list", "show", "approve", "dismiss", "mine"), True),
    *_forms("reflect", ("today", "week", "honest", "growth"), True),
    *_forms("session", ("list", "show", "delete"), True),
    *_forms("task", ("list", "show", "replay", "rate", "approve", "deny", "cancel"), True),
    *_forms("memory", ("list", "show", "forget", "global", "reindex"), True),
    *_forms("skills", ("list", "show"), True),
    *_forms("schedule", ("list", "run"), True),
    *_forms("webhooks", ("list", "deliveries", "redeliver", "enable", "secret"), True),
    CommandForm(("status",), True),
    CommandForm(("init",), True),
    CommandForm(("doctor",), True),
    CommandForm(("serve",), True),
)

# What does the same in chat, for the terminal commands that have a chat counterpart.
_IN_CHAT = {
    ("reflect", "today"): "/think digest today",
    ("reflect", "week"): "/think digest week",
    ("status",): "/think status [id]",
    ("task", "cancel"): "/think cancel <id>",
    ("task", "approve"): "/think approve <id>, or Override under the blocked task",
    ("task", "deny"): "/think deny <id>, or Cancel under the blocked task",
    ("task", "rate"): "👍 / 👎 under the task's result",
    ("learn", "approve"): "Approve under the proposal in a digest",
    ("learn", "dismiss"): "Dismiss under the proposal in a digest",
    ("mind", "parliament"): "each task's thread shows its deliberation",
}
FORMS: tuple[CommandForm, ...] = tuple(
    CommandForm(f.words, f.in_terminal, f.instead, _IN_CHAT.get(f.words, "")) for f in _LISTED
)
_BY_WORDS = {f.words: f for f in FORMS}
# How close a second word must be to a subcommand to be taken for a typo of it (difflib's ratio, as the
# CLI's "did you mean": "tols" → tools is 0.89, "shwo" → show 0.75).
TYPO = 0.75
NAMES = frozenset(f.words[0] for f in FORMS)


@dataclass(frozen=True)
class NamedCommand:
    """A text that names a command: the most specific ``form`` it names, and every word given (the command's
    words lowercased, the rest as typed); ``suggestion``: the subcommand a mistyped second word is close to."""

    form: CommandForm
    words: tuple[str, ...]
    suggestion: str | None = None

    @property
    def text(self) -> str:
        return " ".join(self.words)

    def not_yet(self, run_as_task: str) -> str:
        """The answer for a form that does not exist: ``run_as_task`` is how to ask for the words as a task
        on this surface (``openkoi think …``, ``/think -- …``)."""
        instead = f" Instead: {self.form.instead}." if self.form.instead else ""
        return f"'{self.form.text}' is not an openkoi command yet.{instead} To run it as a task: {run_as_task}"


def named_command(words: Sequence[str]) -> NamedCommand | None:
    """The command ``words`` name (see the module's rule), or None: they are a task."""
    if not words or words[0].lower() not in NAMES:
        return None
    name = words[0].lower()
    if len(words) == 1:
        return NamedCommand(_BY_WORDS[(name,)], (name,))
    second = words[1].lower()
    sub = _BY_WORDS.get((name, second))
    if sub is not None:
        return NamedCommand(sub, (*sub.words, *words[2:]))
    subcommands = [f.words[1] for f in FORMS if len(f.words) == 2 and f.words[0] == name]
    near = difflib.get_close_matches(second, subcommands, n=1, cutoff=TYPO)
    if second.startswith("-") or near or (not subcommands and len(words) == 2):
        return NamedCommand(_BY_WORDS[(name,)], (name, *words[1:]), near[0] if near else None)
    return None
