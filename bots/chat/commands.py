"""The ``/think`` grammar, shared by every chat platform (Slack, Discord, Telegram).

Adapters strip the command word (``/think``, ``/think@BotName``, ``<@U123>``) and pass the rest to
:func:`parse_command`, so one person gets the same behaviour wherever they type.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, TypeAlias

from bots.command_names import named_command
from core.gate.trust import BadTrustInput, TrustLevel, parse_duration, parse_level


@dataclass(frozen=True, slots=True)
class Think:
    description: str
    simulate: bool = False
    max_iterations: int | None = None
    quality: float | None = None
    budget_usd: float | None = None
    skill: str | None = None  # a user-invocable task skill asked for by name


@dataclass(frozen=True, slots=True)
class Status:
    task_id: str | None = None


@dataclass(frozen=True, slots=True)
class Cancel:
    task_id: str


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class Approve:
    confirmation_or_task_id: str


@dataclass(frozen=True, slots=True)
class Deny:
    confirmation_or_task_id: str


DigestSpan = Literal["today", "week"]


@dataclass(frozen=True, slots=True)
class ShowDigest:
    """`/think digest [today|week]`: the current day or week so far, posted where it was asked."""

    span: DigestSpan = "today"


MindView = Literal["agencies", "dissent", "calibrate"]


@dataclass(frozen=True, slots=True)
class ShowSoul:
    """`/think soul [show]`: the SOUL.md in force, where it came from, and its values, posted where asked."""


@dataclass(frozen=True, slots=True)
class ShowMind:
    """`/think mind [agencies|dissent|calibrate]`: each agency's record against outcomes, posted where asked."""

    view: MindView = "agencies"


@dataclass(frozen=True, slots=True)
class CommandNamed:
    """Words that name an openkoi command this chat does not run (`/think init`, `/think world tools`,
    `/think reflect week`): never a task; ``answer`` says what to use instead."""

    answer: str


View: TypeAlias = ShowSoul | ShowMind


@dataclass(frozen=True, slots=True)
class TrustShow:
    """`/think trust [show]`: every domain's trust level (approvers only)."""


@dataclass(frozen=True, slots=True)
class TrustGrant:
    """`/think trust grant <domain> <level> [--for 7d] [--reason …]` (approvers only; four eyes when on)."""

    domain: str
    level: TrustLevel
    duration: timedelta | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class TrustRevoke:
    """`/think trust revoke <domain> [--reason …]` (approvers only)."""

    domain: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class TrustAudit:
    """`/think trust audit [domain] [--since 7d]` (approvers only)."""

    domain: str | None = None
    since: str | None = None


TrustCommand: TypeAlias = TrustShow | TrustGrant | TrustRevoke | TrustAudit
Command: TypeAlias = (
    Think | Status | Cancel | Help | Approve | Deny | ShowDigest | ShowSoul | ShowMind | CommandNamed | TrustCommand
)


class CommandError(ValueError):
    """The text could not be understood; ``str(error)`` is the message to show the person."""


HELP_TEXT = """\
/think <task> [--simulate] [-i N] [--quality Q] [--budget USD] [--skill NAME]
    Start a task. --simulate: deliberate and simulate, execute nothing. -i: at most N iterations (1-50).
    --quality: accept the output at this score (0-1). --budget: spend at most this many dollars.
    --skill: use this skill (see openkoi skills list), besides any chosen for the task.
/think status [id]    What is running, or one task in detail.
/think cancel <id>    Stop a task.
/think approve <id>   Allow an action that is waiting for your confirmation.
/think deny <id>      Refuse an action that is waiting for your confirmation.
/think digest [today or week]   Post the reflection digest of today (or this week) so far, here.
/think soul           Post the team's values (SOUL.md) and where they come from, here.
/think mind [agencies, dissent or calibrate]   Post each agency's record against outcomes, here.
/think trust [show]   Trust levels per domain (approvers only; so are grant, revoke and audit).
/think trust grant <domain> <level> [--for 7d] [--reason why]
    Level: ask, suggest, act or autonomous. Raising a level needs a second approver's press when four eyes are on.
/think trust revoke <domain> [--reason why]    Back to ask.
/think trust audit [domain] [--since 7d]       The gate's latest decisions and trust changes.
/think help           Show this help.
An id may be shortened to its first 4 or more characters. Start the task with -- to keep leading dashes as text.
Words that name an openkoi command (init, soul, trust show …) are never a task: /think -- init runs one."""

_USAGE = "/think <task> [--simulate] [-i N] [--quality Q] [--budget USD] [--skill NAME]"
_OPTIONS = "--simulate, -i N, --quality Q, --budget USD, --skill NAME"
_ID = re.compile(r"[0-9a-fA-F]{4,32}")
_FLAG_LIKE = re.compile(r"--?[A-Za-z]")
# Phones autocorrect "--" into an em or en dash; any run of dashes holding one of these is read as a flag prefix.
_DASHES = re.compile(r"[-‐‑‒–—―−]+")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")  # no signs, exponents, inf or nan: those are typos here
_QUOTES = "\"'“”‘’„«»"  # people quote values, and phones curl the quotes
# Flag → the _Options field it sets. --iterate is the terminal CLI's spelling; accepting it keeps habits portable.
_VALUE_FLAGS = {"-i": "max_iterations", "--iterations": "max_iterations", "--iterate": "max_iterations"}
_VALUE_FLAGS |= {"--quality": "quality", "--budget": "budget_usd", "--skill": "skill"}
_EXPECTED = {"max_iterations": "a whole number from 1 to 50", "quality": "a number between 0 and 1"}
_EXPECTED["budget_usd"] = "a dollar amount above 0, like 5 or $2.50"
_EXPECTED["skill"] = "a skill name, like self-iterate"
_SKILL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True, slots=True)
class _Token:
    raw: str
    word: str  # raw with autocorrected dashes undone; only ever compared against flag names
    start: int
    end: int


@dataclass(slots=True)
class _Options:
    simulate: bool = False
    max_iterations: int | None = None
    quality: float | None = None
    budget_usd: float | None = None
    skill: str | None = None


def parse_command(text: str) -> Command:
    """Parse what follows ``/think`` into a Command; raise CommandError with a message for the person.

    Callers may rely on: empty or blank text is Help(); ``status``/``cancel``/``approve``/``deny``/``help``/
    ``digest`` (any case) are subcommands only as the first word followed by the right shape (at most one id for
    status, exactly one for the others, none for help, nothing or ``today``/``week`` for digest), and ids are 4-32 hex characters returned
    lowercased; ``trust`` alone or followed by ``show``/``grant``/``revoke``/``audit`` is a trust command (a
    malformed one is a CommandError); other words that name an openkoi command (``bots.command_names``: ``soul``,
    ``mind dissent``, ``init`` …, also after leading flags) are ShowSoul, ShowMind or CommandNamed, never a
    task, unless a ``--`` token asks for one; anything else is a Think whose description is the original text between the leading
    and trailing flags, sliced verbatim (inner spacing, newlines and non-ASCII kept; outer whitespace
    trimmed). Flags are read only at the start and the end, so dashes mid-sentence stay text; a ``--``
    token at the start ends flag parsing entirely. Think values are already range-checked.
    """
    tokens = [_Token(m.group(), _undo_autocorrect(m.group()), m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    if not tokens:
        return Help()
    sub = _subcommand(tokens)
    if sub is not None:
        return sub
    opts = _Options()
    lo, hi = 0, len(tokens)
    while lo < hi and tokens[lo].word != "--" and (taken := _take(tokens, lo, hi, opts)):
        lo += taken
    terminated = lo < hi and tokens[lo].word == "--"
    if terminated:
        lo += 1
    while not terminated and lo < hi:
        taken = _take(tokens, hi - 1, hi, opts)
        # "... --budget 5": the last token is a value, the one before it its flag. A near-miss spelling
        # ("--budjet 5") is taken as a flag too, so the typo is reported instead of the limit silently dropped.
        if not taken and hi - 2 >= lo and _is_value_flag(tokens[hi - 2].word):
            taken = _take(tokens, hi - 2, hi, opts)
        if not taken:
            break
        hi -= taken
    if lo >= hi:
        raise CommandError(f"say what you want done: {_USAGE}")
    description = text[tokens[lo].start : tokens[hi - 1].end]
    if not terminated and (named := _named([t.raw for t in tokens[lo:hi]])) is not None:
        return named  # "--simulate init" names a command as "init" does; "-- init" is a task
    return Think(description, opts.simulate, opts.max_iterations, opts.quality, opts.budget_usd, opts.skill)


def _undo_autocorrect(token: str) -> str:
    dashes = _DASHES.match(token)
    if dashes is None or dashes.group().isascii():
        return token
    rest = token[dashes.end() :]
    # "—i 3" was most likely "-i 3"; anything longer was a long option.
    return ("-" if len(rest.partition("=")[0]) == 1 else "--") + rest


def _is_value_flag(word: str) -> bool:
    name = word.lower()
    return name in _VALUE_FLAGS or (
        bool(_FLAG_LIKE.match(name))
        and "=" not in name
        and bool(difflib.get_close_matches(name, _VALUE_FLAGS, cutoff=0.8))
    )


def _subcommand(tokens: list[_Token]) -> Command | None:
    head, args = tokens[0].raw.lower(), [t.raw for t in tokens[1:]]
    one_id = args[0].lower() if len(args) == 1 and _ID.fullmatch(args[0]) else None
    if head == "help" and not args:
        return Help()
    if head == "status" and (not args or one_id):
        return Status(one_id)
    if head == "digest" and len(args) <= 1:
        span = args[0].lower() if args else "today"
        if span == "today":
            return ShowDigest("today")
        if span == "week":
            return ShowDigest("week")
    if head == "trust" and (not args or args[0].lower() in _TRUST_VERBS):
        return _trust(args)
    if head in ("cancel", "approve", "deny"):
        if not args:
            what = "task id" if head == "cancel" else "confirmation or task id"
            raise CommandError(f"`{head}` needs a {what}: /think {head} <id>")
        if one_id:
            return Cancel(one_id) if head == "cancel" else Approve(one_id) if head == "approve" else Deny(one_id)
    return _named([t.raw for t in tokens])


# The words this grammar gives a shape of its own above (`status` takes at most one id): left to it.
_OWN = frozenset({"status"})
_MIND_VIEWS: dict[tuple[str, ...], MindView] = {(): "agencies", ("agencies",): "agencies"}
_MIND_VIEWS |= {("dissent",): "dissent", ("calibrate",): "calibrate"}


def _named(words: list[str]) -> Command | None:
    """The answer to words that name an openkoi command (``bots.command_names``), or None for a task."""
    named = named_command(words)
    if named is None or named.form.words[0] in _OWN:
        return None
    form = named.form.words
    as_task = f"/think -- {named.text}"
    if named.suggestion is not None:
        return CommandNamed(f"Did you mean /think {form[0]} {named.suggestion}? To run it as a task: {as_task}")
    if form in (("soul",), ("soul", "show")):
        return ShowSoul()
    if form[0] == "mind" and form[1:] in _MIND_VIEWS:
        return ShowMind(_MIND_VIEWS[form[1:]])
    if not named.form.in_terminal:
        return CommandNamed(named.not_yet(as_task))
    in_chat = f" In chat: {named.form.in_chat}." if named.form.in_chat else ""
    return CommandNamed(
        f"`openkoi {named.form.text}` is a terminal command: run it where openkoi is installed.{in_chat}"
        f" To run it as a task: {as_task}"
    )


_TRUST_VERBS = ("show", "grant", "revoke", "audit")
_TRUST_USAGE = {
    "show": "/think trust show",
    "grant": "/think trust grant <domain> ask|suggest|act|autonomous [--for 7d] [--reason why]",
    "revoke": "/think trust revoke <domain> [--reason why]",
    "audit": "/think trust audit [domain] [--since 7d]",
}


def _trust(args: list[str]) -> TrustCommand:
    """`/think trust …` (the words after ``trust``). A domain is checked later, against the team's."""
    verb = args[0].lower() if args else "show"
    words, flags = _trust_flags(verb, args[1:])
    try:
        if verb == "show" and not words and not flags:
            return TrustShow()
        if verb == "grant" and len(words) == 2 and set(flags) <= {"--for", "--reason"}:
            span = parse_duration(flags["--for"]) if "--for" in flags else None
            return TrustGrant(words[0].lower(), parse_level(words[1]), span, flags.get("--reason"))
        if verb == "revoke" and len(words) == 1 and set(flags) <= {"--reason"}:
            return TrustRevoke(words[0].lower(), flags.get("--reason"))
        if verb == "audit" and len(words) <= 1 and set(flags) <= {"--since"}:
            return TrustAudit(words[0].lower() if words else None, flags.get("--since"))
    except BadTrustInput as exc:
        raise CommandError(f"{exc}. Usage: {_TRUST_USAGE[verb]}") from None
    raise CommandError(f"usage: {_TRUST_USAGE[verb]}")


def _trust_flags(verb: str, args: list[str]) -> tuple[list[str], dict[str, str]]:
    """Positional words, and flags with their values; ``--reason`` takes the rest of the line."""
    words: list[str] = []
    flags: dict[str, str] = {}
    i = 0
    while i < len(args):
        word = _undo_autocorrect(args[i])
        name, eq, inline = word.partition("=")
        if not _FLAG_LIKE.match(name):
            words.append(args[i])
            i += 1
            continue
        name = name.lower()
        if name not in ("--for", "--reason", "--since"):
            raise CommandError(f"unknown option {name}. Usage: {_TRUST_USAGE[verb]}")
        if name == "--reason":
            rest = [inline] if eq else []
            value = " ".join([*rest, *args[i + 1 :]]).strip(_QUOTES + " ")
            i = len(args)
        elif eq:
            value, i = inline, i + 1
        elif i + 1 < len(args):
            value, i = args[i + 1], i + 2
        else:
            raise CommandError(f"{name} needs a value. Usage: {_TRUST_USAGE[verb]}")
        if not value:
            raise CommandError(f"{name} needs a value. Usage: {_TRUST_USAGE[verb]}")
        flags[name] = value.strip(_QUOTES)
    return words, flags


def _take(tokens: list[_Token], i: int, end: int, opts: _Options) -> int:
    """Apply the flag at tokens[i] (its value, if any, must lie before ``end``); return tokens used, 0 if no flag."""
    word = tokens[i].word
    if not _FLAG_LIKE.match(word):
        return 0
    name, eq, inline = word.partition("=")
    name = name.lower()  # phones capitalise the first letter of a message: "—Simulate"
    if name == "--simulate":
        if eq:
            raise CommandError("--simulate takes no value")
        opts.simulate = True
        return 1
    if name not in _VALUE_FLAGS:
        close = difflib.get_close_matches(name, ["--simulate", *_VALUE_FLAGS], n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise CommandError(f"unknown option {name}{hint}. Options: {_OPTIONS}. To keep it as text: /think -- <task>")
    if eq:
        _set(opts, name, inline)
        return 1
    _set(opts, name, tokens[i + 1].raw if i + 1 < end else None)
    return 2


def _set(opts: _Options, flag: str, value: str | None) -> None:
    key = _VALUE_FLAGS[flag]
    if getattr(opts, key) is not None:  # two different limits: neither silently wins
        raise CommandError(f"{flag} was given twice")
    if key == "skill":
        name = (value or "").strip(_QUOTES)
        if not _SKILL_NAME.fullmatch(name):
            raise CommandError(f"{flag} needs {_EXPECTED[key]}" + (f", got {value!r}" if value else ""))
        opts.skill = name
        return
    number = (value or "").strip(_QUOTES)
    number = number.removeprefix("$") if key == "budget_usd" else number
    ok = bool(_NUMBER.fullmatch(number)) and len(number) < 20  # bounded so int() never sees a pathological string
    if key == "max_iterations" and ok and number.isdigit() and 1 <= int(number) <= 50:
        opts.max_iterations = int(number)
    elif key == "quality" and ok and 0 <= float(number) <= 1:
        opts.quality = float(number)
    elif key == "budget_usd" and ok and float(number) > 0:
        opts.budget_usd = float(number)
    else:
        raise CommandError(f"{flag} needs {_EXPECTED[key]}" + (f", got {value!r}" if value else ""))
