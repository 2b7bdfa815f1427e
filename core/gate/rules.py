"""The floor's rules compiled for matching: each finds its effect in a folded text cut into clauses."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from core.gate.clauses import Clause, Grammar, alternation
from core.gate.normalise import fold_pattern
from core.gate.spec import FAMILY_REFERENCE, Mode, Quiet, RuleSpec

EVIDENCE_CHARS = 90


@dataclass(frozen=True)
class Hit:
    """Where a rule found its effect: the span of the words, the clause, whether that clause's mode quiets
    the rule (talk, draft, read: a later "run it" brings such a hit back), and whether a negation or the
    person's own machine does (nothing brings those back)."""

    start: int
    end: int
    clause: Clause
    talk: bool
    negated: bool
    private: bool = False

    @property
    def quiet(self) -> bool:
        return self.talk or self.negated or self.private


class CompiledRule:
    """One rule, ready to match: its patterns and families as compiled regular expressions."""

    def __init__(self, spec: RuleSpec, shared: dict[str, list[str]]) -> None:
        self.spec = spec
        families = resolve_families({**shared, **spec.terms})
        used = {name for combo in spec.combos for name in combo}
        used |= {name for p in [*spec.patterns, *spec.heads] for name in FAMILY_REFERENCE.findall(p)}
        self._family_source = {name: _family(tuple(families[name])) for name in used}
        self._patterns = [_compiled(self._expand(p)) for p in spec.patterns]
        self._heads = [_compiled(self._expand(p)) for p in spec.heads]
        self._combos = [[_compiled(self._family_source[name]) for name in combo] for combo in spec.combos]
        self._quiet = set(spec.quiet)

    @property
    def id(self) -> str:
        return self.spec.id

    def _expand(self, pattern: str) -> str:
        folded = fold_pattern(pattern)
        return FAMILY_REFERENCE.sub(lambda m: self._family_source[m.group(1)], folded)

    def first(self, text: str, clauses: list[Clause], grammar: Grammar, strict: bool, revival: int) -> Hit | None:
        """The first place in folded ``text`` where this rule's effect is asked for, in the rule's order
        (patterns, heads, combos), or ``None``. ``strict`` ignores the clauses' modes (a proposed action's
        arguments are what runs, not talk about it); ``revival`` is where a "run it" clause starts (-1:
        none), which brings back what a drafting or talking clause before it had quieted."""

        def counts(hit: Hit) -> bool:
            if not hit.quiet:
                return True
            return hit.talk and not hit.negated and not hit.private and hit.clause.start < revival

        for pattern in self._patterns:
            for match in pattern.finditer(text):
                if match.end() > match.start():
                    hit = self._hit(text, clauses, grammar, match.start(), match.end(), strict)
                    if counts(hit):
                        return hit
        for clause in clauses:
            if clause.mode is not Mode.ACT and not strict:
                continue
            for pattern in self._heads:
                head = pattern.match(text, clause.core, clause.end)
                if head and head.end() > head.start():
                    hit = self._hit(text, clauses, grammar, head.start(), head.end(), strict)
                    if counts(hit):
                        return hit
        for combo in self._combos:
            anchor, *companions = combo
            for match in anchor.finditer(text):
                hit = self._hit(text, clauses, grammar, match.start(), match.end(), strict)
                if not counts(hit):
                    continue  # a quiet anchor needs no object: skip the search around it
                span = self._near(text, match.start(), match.end(), companions)
                if span is not None:
                    return Hit(span[0], span[1], hit.clause, hit.talk, hit.negated, hit.private)
        return None

    def _near(self, text: str, start: int, end: int, companions: list[re.Pattern[str]]) -> tuple[int, int] | None:
        """The span covering the anchor and the nearest word of each companion family within the
        window, or ``None`` when a family has no word that near."""
        window = self.spec.window
        low, high = max(0, start - window), min(len(text), end + window)
        first, last = start, end
        for family in companions:
            best: tuple[int, int] | None = None
            for found in family.finditer(text, low, high):
                if found.end() <= found.start() or (found.start() <= start and found.end() >= end):
                    continue  # the anchor's own word does not count as its object (a word inside a
                    # multi-word anchor does: "setze das passwort zuruck", "let our customers know")
                distance = found.start() - end if found.start() >= end else start - found.end()
                if best is None or distance < best[0]:
                    best = (distance, found.start())
                    span_end = found.end()
            if best is None:
                return None
            first, last = min(first, best[1]), max(last, span_end)
        return first, last

    def _hit(self, text: str, clauses: list[Clause], grammar: Grammar, start: int, end: int, strict: bool) -> Hit:
        clause = grammar.clause_at(clauses, start)
        if strict:
            return Hit(start, end, clause, talk=False, negated=False)
        negated = Quiet.NEGATED in self._quiet and (
            clause.mode is Mode.NEGATED or grammar.negated_near(text, clause, start, end)
        )
        # "find /srv -name '*.log' -delete": a reading verb that is itself the start of the matched
        # command is the command, not a cue. A cue carried over a colon ("check this SQL: DELETE …") is
        # the earlier clause's, not this command's.
        command = clause.mode is Mode.READ and start == clause.core and text.startswith(clause.cue, start)
        mode_quiets = clause.mode is not Mode.ACT and Quiet(clause.mode.value) in self._quiet
        talk = mode_quiets and clause.mode is not Mode.NEGATED and not command
        talk = talk or (Quiet.TALK in self._quiet and grammar.discussed_near(text, clause, start))
        private = Quiet.PRIVATE in self._quiet and clause.private
        return Hit(start, end, clause, talk=talk, negated=negated, private=private)


@lru_cache(maxsize=512)
def _family(terms: tuple[str, ...]) -> str:
    return alternation([fold_pattern(term) for term in terms])


@lru_cache(maxsize=1024)
def _compiled(source: str) -> re.Pattern[str]:
    # Rules share families ("destroy" is in five of them): each source compiles once per process.
    return re.compile(source)


def resolve_families(families: dict[str, list[str]]) -> dict[str, list[str]]:
    """Families with a term that is only ``{other}`` expanded into ``other``'s terms (one level: a family
    is a list of words, not a grammar)."""
    resolved: dict[str, list[str]] = {}
    for name, terms in families.items():
        expanded: list[str] = []
        for term in terms:
            whole = FAMILY_REFERENCE.fullmatch(term)
            expanded.extend(families.get(whole.group(1), [term]) if whole else [term])
        resolved[name] = expanded
    return resolved


def evidence(text: str, hit: Hit) -> str:
    """The words that matched, clipped to a readable length."""
    words = text[hit.start : hit.end].strip()
    return words if len(words) <= EVIDENCE_CHARS else words[: EVIDENCE_CHARS - 1] + "…"
