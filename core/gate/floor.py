"""The rule floor: a deterministic screen, no model and no network, that finds irreversible or
wide-reaching effects in a task or a proposed action before any model is asked.

A match means a person decides, whatever the models vote; each match names its rule, the rule's domain,
a sentence a person understands and the words that matched. The rules are data (``floor_rules.toml``,
extended or narrowed by a team's ``[gate.floor]``). The local embedder, when the team keeps it on and
it can load, may add a match to a task the words let through (a paraphrase they miss); it never removes
one. Importing this module loads no model: the embedder loads on the first screen that uses it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from core.gate.clauses import Clause, Grammar
from core.gate.normalise import fold
from core.gate.rules import CompiledRule, evidence
from core.gate.spec import Mode, RulebookSpec, RuleSpec, load_rulebook, shipped_rulebook_path
from core.gate.spelling import Speller

if TYPE_CHECKING:
    from core.gate.settings import FloorSettings
    from core.gate.similarity import Similarity


Source = Literal["lexicon", "embedder"]
_LINK = re.compile(r"\bhttps?://\S+")
EmbedderState = Literal["on", "off", "unavailable"]


@dataclass(frozen=True)
class FloorMatch:
    """One rule that matched: what it guards (``domain``), what it means to a person (``description``)
    and the words that made it match (``evidence``, folded: lowercase, no accents)."""

    rule: str
    domain: str
    description: str
    evidence: str
    source: Source = "lexicon"


@dataclass(frozen=True)
class FloorResult:
    """The floor's verdict on one text or action. ``needs_person`` is the whole decision. ``embedder`` is
    "on" when the embedder was loaded and asked about every acting clause the words let through, "off"
    when the team turned it off, "unavailable" when it could not load (the words alone screened, and
    ``notes`` says why)."""

    text: str
    matches: tuple[FloorMatch, ...]
    embedder: EmbedderState = "off"
    notes: tuple[str, ...] = field(default=())

    @property
    def needs_person(self) -> bool:
        return bool(self.matches)

    @property
    def rules(self) -> tuple[str, ...]:
        return tuple(match.rule for match in self.matches)

    @property
    def domains(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(match.domain for match in self.matches))

    def explain(self) -> str:
        """One line per match, for a block message: ``rule (domain): description — "evidence"``."""
        if not self.matches:
            return "no floor rule matched"
        # An action's evidence spans its name and arguments, one per line: quoted here on one line.
        return "\n".join(
            f'{m.rule} ({m.domain}): {m.description} — "{" ".join(m.evidence.split())}"' for m in self.matches
        )


class Floor:
    """The rule floor. Build it with ``Floor.load(settings)``; ``screen`` and ``screen_action`` are pure
    and thread-safe (the embedder, if any, serialises its own calls)."""

    def __init__(
        self,
        book: RulebookSpec,
        rules: list[RuleSpec] | None = None,
        terms: dict[str, list[str]] | None = None,
        similarity: Similarity | None = None,
    ) -> None:
        self._grammar = Grammar(book.grammar)
        self._speller = Speller(book.spelling)
        shared = book.terms if terms is None else terms
        self._rules = [CompiledRule(rule, shared) for rule in (book.rules if rules is None else rules)]
        self._similarity = similarity

    @classmethod
    def load(cls, settings: FloorSettings | None = None) -> Floor:
        """The shipped rules, with the team's extra rules added and its disabled rules removed; the
        embedder only when ``settings.embedder`` is on. ``ConfigError`` names what is wrong."""
        from core.gate.settings import FloorSettings, assemble

        settings = settings or FloorSettings()
        book = load_rulebook(shipped_rulebook_path())
        rules, terms = assemble(book, settings)
        similarity = None
        if settings.embedder:
            from core.gate.similarity import Similarity

            every_rule = [*book.rules, *(rule for rule in rules if rule not in book.rules)]
            similarity = Similarity.for_rules(every_rule, {rule.id for rule in rules})
        return cls(book, rules, terms, similarity)

    @property
    def rule_specs(self) -> list[RuleSpec]:
        """The rules in force, in the order they are reported."""
        return [rule.spec for rule in self._rules]

    def acting_clauses(self, text: str) -> list[str]:
        """The clauses of ``text`` that ask for something to be done (folded), as the embedder sees them."""
        folded = self._read(text)
        return [folded[c.core : c.end] for c in self._grammar.split(folded) if c.mode is Mode.ACT] if folded else []

    def screen(self, text: str) -> FloorResult:
        """Which rules ``text`` (a task as a person wrote it) matches. Talking about an effect (explain,
        review, draft, list, "do not …") is not doing it; doing it anywhere in the text is."""
        return self.screen_many([text])[0]

    def screen_many(self, texts: list[str]) -> list[FloorResult]:
        """``screen`` for many texts at once: the same results, with one embedder call for all of them."""
        # A typo of a word the rules turn on reads as the word ("trncate the sessions tbl"); a proposed
        # action's words are what runs, so they are taken as they are.
        return self._screen([(text, self._read(text)) for text in texts], strict=False)

    def _read(self, text: str) -> str:
        """``text`` as the rules read a task: folded, typos of their words corrected, and each web link
        one word ("https://deploy.acme.io/releases/812" names no deploy)."""
        return _LINK.sub("link", self._speller.correct(fold(text)))

    def screen_action(self, name: str, arguments: Mapping[str, object]) -> FloorResult:
        """Which rules a proposed action matches: its name (``mcp__db__execute``, ``restart-worker``)
        and every argument value, e.g. ``{"sql": "TRUNCATE orders"}``. An action's words are what runs,
        so no cue quiets them; a ``True`` flag counts by its name (``{"force": true}``), ``False`` not."""
        words = [_action_name(name), *_argument_words(arguments)]
        shown = f"{name} {_compact(arguments)}"
        return self._screen([(shown, fold("\n".join(words)))], strict=True)[0]

    def _screen(self, items: list[tuple[str, str]], strict: bool) -> list[FloorResult]:
        found = [self._words(folded, strict) for _, folded in items]
        state: EmbedderState = "off"
        notes: tuple[str, ...] = ()
        added: list[list[FloorMatch]] = [[] for _ in items]
        if self._similarity is not None:
            # Asked only where the words found nothing: a person decides there anyway, and the
            # embedder costs milliseconds per clause.
            groups = [
                [] if matches else [folded[c.core : c.end] for c in clauses if strict or c.mode is Mode.ACT]
                for (_, folded), (clauses, matches) in zip(items, found, strict=True)
            ]
            excludes = [{m.rule for m in matches} for _, matches in found]
            nearest, state, note = self._similarity.nearest(groups, excludes)
            notes = (note,) if note else ()
            specs = {rule.id: rule.spec for rule in self._rules}
            for index, group in enumerate(nearest):
                for near in group:
                    spec = specs[near.rule]
                    words = f'{near.clause} (reads like "{near.example}", p={near.score:.2f})'
                    added[index].append(FloorMatch(spec.id, spec.domain, spec.description, words, "embedder"))
        return [
            FloorResult(shown, tuple(matches + extra), state, notes)
            for (shown, _), (_, matches), extra in zip(items, found, added, strict=True)
        ]

    def _words(self, folded: str, strict: bool) -> tuple[list[Clause], list[FloorMatch]]:
        """The clauses of ``folded`` and the rules its words match, in rule order."""
        if not folded:
            return [], []
        clauses = self._grammar.split(folded)
        matches: list[FloorMatch] = []
        revival = _last_revival(clauses)
        for rule in self._rules:
            hit = rule.first(folded, clauses, self._grammar, strict, revival)
            if hit is not None:
                spec = rule.spec
                matches.append(FloorMatch(spec.id, spec.domain, spec.description, evidence(folded, hit)))
        return clauses, matches


def _last_revival(clauses: list[Clause]) -> int:
    """Where the last clause that only says "run it" / "do it" starts (-1 when there is none)."""
    starts = [clause.start for clause in clauses if clause.anaphora and clause.mode is Mode.ACT]
    return starts[-1] if starts else -1


def _action_name(name: str) -> str:
    # mcp__db__execute → "mcp db execute"; restart-worker stays whole and also reads "restart worker".
    spaced = name.replace("__", " ").replace("_", " ")
    return f"{spaced} {spaced.replace('-', ' ')}" if "-" in spaced else spaced


# Arguments named for a lookup: the name says which record, not what is done to it, and some of these
# names are also the words of a rule ({"key": "oncall/rota"} is not a key being rotated). The value
# still counts, and so does the name of every other argument ({"repo_path": …} beside git_reset).
_LOOKUP_ARGUMENTS = frozenset(
    {"key", "keys", "id", "ids", "name", "cursor", "page_token", "next_token", "continuation_token", "sort_key"}
)


def _argument_words(value: object, key: str = "") -> Iterable[str]:
    if isinstance(value, bool):
        if value and key:
            yield key.replace("_", " ")
    elif isinstance(value, Mapping):
        for inner_key, inner in value.items():
            yield from _argument_words(inner, str(inner_key))
    elif isinstance(value, list | tuple):
        if all(isinstance(item, str | int | float) and not isinstance(item, bool) for item in value):
            # An argv stays one command line: ["rm", "-rf", "/srv"] reads "rm -rf /srv".
            yield f"{key.replace('_', ' ')} {' '.join(str(item) for item in value)}".strip()
        else:
            for item in value:
                yield from _argument_words(item, key)
    elif value is not None:
        named = key and key.casefold() not in _LOOKUP_ARGUMENTS
        yield f"{key.replace('_', ' ')} {value}".strip() if named else str(value)


def _compact(arguments: Mapping[str, object]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in arguments.items())
