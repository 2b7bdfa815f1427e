"""The rule floor's data, as written in ``floor_rules.toml`` and in a team's ``[gate.floor]``: validated
on load, so a broken rule is an error that names the rule and the pattern, never a rule that silently
matches nothing.

A rule finds an effect in three ways, any of which is enough:

- ``patterns``: regular expressions anywhere in the text (``drop\\s+table``, ``rm\\s+-rf``);
- ``heads``: regular expressions that must start a clause, after polite lead-ins ("could you please");
  the imperative's own verb (``ship``, ``deploy``) without which the word is only a noun;
- ``combos``: lists of term families; the first family's word (the action) must be in the clause and a
  word of every other family within ``window`` characters of it ("wipe" … "the customers table").

Patterns may name a family as ``{family}``. Every pattern is folded like the text it meets (NFKC,
casefolded, no diacritics: write ``losch`` for "lösch"), so punctuation is written as ASCII.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.errors import ConfigError
from core.gate.normalise import fold_pattern
from core.tomlfile import read_toml_model

SHIPPED_RULES = "floor_rules.toml"
FAMILY_REFERENCE = re.compile(r"\{([a-z][a-z0-9_]*)\}")
RULE_ID = r"^[a-z][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+$"


class Mode(StrEnum):
    """What a clause does with its words: ``act`` does it; the others talk about it, draft it, read it,
    or say not to."""

    ACT = "act"
    TALK = "talk"
    DRAFT = "draft"
    READ = "read"
    NEGATED = "negated"


class Quiet(StrEnum):
    """What may quiet a rule's match: the clause's mode, or a clause about the person's own machine
    ("deploy to my local minikube"), which only rules about shared systems let pass."""

    TALK = "talk"
    DRAFT = "draft"
    READ = "read"
    NEGATED = "negated"
    PRIVATE = "private"


QUIET_BY_DEFAULT = (Quiet.TALK, Quiet.DRAFT, Quiet.READ, Quiet.NEGATED)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_regex(pattern: str, families: set[str] | None = None) -> str:
    """``pattern`` unchanged if it compiles once folded and its ``{family}`` names are known (when
    ``families`` is given); a ``ValueError`` saying what is wrong otherwise."""
    if families is not None:
        unknown = sorted(set(FAMILY_REFERENCE.findall(pattern)) - families)
        if unknown:
            raise ValueError(f"pattern {pattern!r} names unknown term families: {', '.join(unknown)}")
    probe = FAMILY_REFERENCE.sub("(?:x)", pattern)
    try:
        re.compile(fold_pattern(probe))
    except re.error as exc:
        raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {exc}") from None
    return pattern


def _check_all(patterns: list[str], what: str) -> list[str]:
    # One compile for the whole list in the usual case; term by term only to name the broken one.
    joined = "|".join(f"(?:{FAMILY_REFERENCE.sub('(?:x)', p)})" for p in patterns)
    try:
        re.compile(fold_pattern(joined))
        return patterns
    except re.error:
        pass
    for index, pattern in enumerate(patterns):
        try:
            check_regex(pattern)
        except ValueError as exc:
            raise ValueError(f"{what}[{index}]: {exc}") from None
    return patterns


class RuleSpec(_Strict):
    """One rule: an effect that needs a person's decision."""

    id: Annotated[str, Field(pattern=RULE_ID, description="'<domain>.<effect>', e.g. 'database.destroy'")]
    domain: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")]
    description: Annotated[str, Field(min_length=3, max_length=200)]
    patterns: list[str] = []
    heads: list[str] = []
    combos: list[Annotated[list[str], Field(min_length=2)]] = []
    terms: dict[str, list[str]] = Field(default_factory=dict, description="families only this rule uses")
    window: Annotated[int, Field(ge=10, le=400)] = 60
    quiet: list[Quiet] = Field(
        default_factory=lambda: list(QUIET_BY_DEFAULT),
        description="clause modes in which this rule does not match (reading a secret is the harm: drop 'read')",
    )
    examples: list[str] = Field(
        default_factory=list, description="tasks this rule stops; the embedder's matches are named after the nearest"
    )

    @model_validator(mode="after")
    def _usable(self) -> RuleSpec:
        if not (self.patterns or self.heads or self.combos):
            raise ValueError(f"rule {self.id!r} has no patterns, heads or combos: it could never match")
        for field, patterns in (("patterns", self.patterns), ("heads", self.heads)):
            for index, pattern in enumerate(patterns):
                try:
                    check_regex(pattern)
                except ValueError as exc:
                    raise ValueError(f"rule {self.id!r}, {field}[{index}]: {exc}") from None
        for family, terms in self.terms.items():
            try:
                _check_all(terms, f"terms.{family}")
            except ValueError as exc:
                raise ValueError(f"rule {self.id!r}, {exc}") from None
        return self


class GrammarSpec(_Strict):
    """How a text is cut into clauses and how a clause's mode is read (see ``core.gate.clauses``)."""

    leads: list[str]
    conjunctions: list[str]
    act_verbs: list[str]
    anaphora: list[str]
    talk: list[str]
    draft: list[str]
    read: list[str]
    artefact_verbs: list[str]
    artefacts: list[str]
    anywhere_talk: list[str]
    talk_near: list[str]
    statement: list[str]
    private: list[str]
    shared: list[str]
    negation_head: list[str]
    negation_near: list[str]
    negation_after: list[str]
    negation_tail: list[str]
    talk_tail: list[str]
    draft_tail: list[str]
    read_tail: list[str]
    relative: list[str]
    talk_anywhere: list[str]
    plan_only: list[str]
    hands_off: list[str]
    edit_verbs: list[str]
    code_objects: list[str]
    code_files: list[str]

    @field_validator("*")
    @classmethod
    def _regexes(cls, value: list[str], info: object) -> list[str]:
        name = str(getattr(info, "field_name", "grammar"))
        if not value:
            # An empty alternation matches the empty string everywhere: every clause would take this mode.
            raise ValueError(f"{name} names no term")
        return _check_all(value, name)


class RulebookSpec(_Strict):
    """The whole ``floor_rules.toml``."""

    version: int
    grammar: GrammarSpec
    spelling: list[str] = Field(default_factory=list, description="words whose one-letter typos read as them")
    terms: dict[str, list[str]]
    rules: list[RuleSpec]

    @model_validator(mode="after")
    def _consistent(self) -> RulebookSpec:
        check_rules(self.rules, set(self.terms))
        for family, terms in self.terms.items():
            _check_all(terms, f"terms.{family}")
        return self


def check_rules(rules: list[RuleSpec], shared_families: set[str]) -> None:
    """Raise ``ValueError`` naming the rule when ids repeat or a rule names a family nobody defines."""
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise ValueError(f"rule id {rule.id!r} is defined twice")
        seen.add(rule.id)
        known = shared_families | set(rule.terms)
        for combo in rule.combos:
            unknown = [name for name in combo if name not in known]
            if unknown:
                raise ValueError(f"rule {rule.id!r}: combo {combo} names unknown term families: {', '.join(unknown)}")
        for field, patterns in (("patterns", rule.patterns), ("heads", rule.heads)):
            for index, pattern in enumerate(patterns):
                try:
                    check_regex(pattern, known)
                except ValueError as exc:
                    raise ValueError(f"rule {rule.id!r}, {field}[{index}]: {exc}") from None


def shipped_rulebook_path() -> Path:
    """Where the rules that ship with openkoi are."""
    return Path(str(resources.files("core.gate").joinpath(SHIPPED_RULES)))


def load_rulebook(path: Path) -> RulebookSpec:
    """The rulebook at ``path``; ``ConfigError`` naming the file, the rule and the pattern when it is wrong.
    Read once per version of the file (the result is immutable)."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from exc
    return _load_rulebook(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _load_rulebook(path: Path, mtime_ns: int, size: int) -> RulebookSpec:
    return read_toml_model(path, RulebookSpec)
