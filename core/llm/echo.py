"""Text that is the prompt's own or the schema's is not an answer: the one check for it.

Tiny models copy what the prompt shows: the example reply comes back as the judgement, a field's
description comes back as its value ("A few words on the approach, e.g. …"), schema syntax comes
back as content (``{{$ref}}#/$defs/Agency``). ``core.llm.structured.ask`` applies this check to every
string of a parsed reply and treats an echo like a validation error (repaired once, then unusable);
the Parliament's tally applies it to each ballot (``core.deliberation.verdict``).

A string is an echo when it
- **is** a phrase of the prompt's instructions, of its example, or of the schema (a description, a
  field's title), compared without case, punctuation or spacing: so "A summary changes nothing." is
  an echo when the example says exactly that, while a short generic answer ("Looks good.") is not,
  unless the example says exactly that;
- **is mostly made of** the instructions' or the schema's wording (at least ``MIN_WORDS`` words, of
  which ``COPIED_SHARE`` lie in runs of ``RUN`` words found there), ignoring runs the person's own
  text also contains (``allowed``: a plan may quote the task);
- **carries schema syntax** the person's text does not: ``$ref``, ``$defs``, or ``{{…}}`` around a
  field name or a JSON-schema keyword; or **"e.g."** next to wording from the prompt or the schema
  (a placeholder's "e.g.": a real answer may say "e.g." in its own words).

Strings that are one of the schema's enum values are constrained answers and never echoes; fields a
schema lists in ``VERBATIM`` (text the work itself is made of: an edit, a rewrite, a quote of the
output) are not checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from core.text import one_line

RUN = 4  # words in a row that count as copied wording
MIN_WORDS = 6  # shorter strings are echoes only as exact copies
COPIED_SHARE = 0.6  # of a string's words, lying in copied runs

_WORD = re.compile(r"[^\W_]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_DOUBLE_QUOTED = re.compile(r'"((?:[^"\\]|\\.){2,})"')
_SINGLE_QUOTED = re.compile(r"(?<!\w)'([^'\n]{2,})'(?!\w)")
_MARKERS = ("$ref", "$defs")
_BRACED = re.compile(r"\{\{\s*\$?([\w#/.-]+)\s*\}\}")
_SCHEMA_WORDS = frozenset({"ref", "defs", "description", "title", "type", "enum", "properties", "items", "required"})
_EG = re.compile(r"\be\.\s?g\.", re.IGNORECASE)


def words(text: str) -> list[str]:
    """``text`` as lower-case words: no case, punctuation or spacing to tell copies apart."""
    return _WORD.findall(text.lower())


def _key(text: str) -> str:
    return " ".join(words(text))


def _runs(sequence: list[str]) -> Iterator[tuple[str, ...]]:
    return (tuple(sequence[i : i + RUN]) for i in range(len(sequence) - RUN + 1))


@dataclass(frozen=True)
class Echo:
    """One string of a reply that copies the prompt or the schema."""

    field: str  # where in the reply: "guardian.reason", "steps.0.detail"
    copies: str  # what it copies: "the prompt's example", "the schema's description of stance", …
    text: str

    def __str__(self) -> str:
        return f"{self.field} copies {self.copies}: {one_line(self.text, 80)!r}"


@dataclass
class Sources:
    """What a reply must not copy (the prompt's instructions and example, the schema), and what it may
    (``allowed``: the person's own text and whatever the prompt shows of their work)."""

    phrases: dict[str, str] = field(default_factory=dict)  # phrase key → what it is
    wording: dict[tuple[str, ...], str] = field(default_factory=dict)  # run of words → what it comes from
    names: set[str] = field(default_factory=set)  # the schema's field names, lower case
    choices: set[str] = field(default_factory=set)  # the schema's enum values
    allowed_text: str = ""
    allowed_runs: set[tuple[str, ...]] = field(default_factory=set)

    def phrase(self, text: str, copies: str) -> None:
        key = _key(text)
        if key:
            self.phrases.setdefault(key, copies)

    def text(self, text: str, copies: str) -> None:
        """Every sentence of ``text`` as a phrase, and its wording."""
        for sentence in _SENTENCE_END.split(text):
            self.phrase(sentence, copies)
        for run in _runs(words(text)):
            self.wording.setdefault(run, copies)


def sources(instructions: str, schema: dict[str, Any] | None = None, allowed: str = "") -> Sources:
    """The sources of echoes for one call: its instructions (the system text, with any example in it),
    the JSON schema asked for, and the text the reply may quote (``allowed``)."""
    found = Sources(allowed_text=allowed.lower(), allowed_runs=set(_runs(words(allowed))))
    for quoted in [*_DOUBLE_QUOTED.findall(instructions), *_SINGLE_QUOTED.findall(instructions)]:
        found.phrase(quoted, "the prompt's example")
    found.text(instructions, "the prompt's instructions")
    if schema is not None:
        _schema(found, schema, "")
    return found


def _schema(found: Sources, node: Any, name: str) -> None:
    if isinstance(node, list):
        for item in node:
            _schema(found, item, name)
        return
    if not isinstance(node, dict):
        return
    where = name or "the reply"
    description = node.get("description")
    if isinstance(description, str):
        copies = f"the schema's description of {where}"
        found.text(description, copies)
        for quoted in _SINGLE_QUOTED.findall(description):
            found.phrase(quoted, copies)
    title = node.get("title")
    if isinstance(title, str):
        found.phrase(title, f"the schema's name for {where}")
    for choice in node.get("enum", []):
        if isinstance(choice, str):
            found.choices.add(choice)
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            for prop, sub in value.items():
                found.names.add(prop.lower())
                _schema(found, sub, prop)
        elif key == "$defs" and isinstance(value, dict):
            for sub in value.values():
                _schema(found, sub, name)
        elif isinstance(value, dict | list) and key not in {"properties", "$defs", "enum"}:
            _schema(found, value, name)


def copied(text: str, found: Sources) -> str | None:
    """What ``text`` copies (see the module docstring), or None when it is the model's own."""
    if text in found.choices:
        return None
    lowered = text.lower()
    for marker in _MARKERS:
        if marker in lowered and marker not in found.allowed_text:
            return f"schema syntax ({marker})"
    for inner in _BRACED.findall(text):
        name = inner.strip("#/").split("/")[-1].lower()
        if (name in found.names or name in _SCHEMA_WORDS) and "{{" not in found.allowed_text:
            return f"schema syntax ({{{{{inner}}}}})"
    key = _key(text)
    if key in found.phrases:
        return found.phrases[key]
    sequence = key.split()
    hits = [run for run in _runs(sequence) if run in found.wording and run not in found.allowed_runs]
    if hits and _EG.search(text) and "e.g" not in found.allowed_text:
        return found.wording[hits[0]]  # a placeholder's "e.g."
    if len(sequence) >= MIN_WORDS and hits:
        covered: set[int] = set()
        for i, run in enumerate(_runs(sequence)):
            if run in found.wording and run not in found.allowed_runs:
                covered.update(range(i, i + RUN))
        if len(covered) >= COPIED_SHARE * len(sequence):
            return found.wording[hits[0]]
    return None


def strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a parsed reply with where it is ("steps.0.detail"), skipping a model's
    ``VERBATIM`` fields (text the work is made of, which may quote anything)."""
    if isinstance(value, BaseModel):
        verbatim: frozenset[str] = getattr(type(value), "VERBATIM", frozenset())
        for name in type(value).model_fields:
            if name not in verbatim:
                yield from strings(getattr(value, name), f"{path}.{name}" if path else name)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for n, item in enumerate(value):
            yield from strings(item, f"{path}.{n}" if path else str(n))
    elif isinstance(value, str):
        yield path, value


def find(reply: BaseModel, found: Sources) -> list[Echo]:
    """The strings of ``reply`` that copy the prompt or the schema, in the reply's order."""
    echoes = []
    for where, text in strings(reply):
        what = copied(text, found)
        if what is not None:
            echoes.append(Echo(where, what, text))
    return echoes


def describe(echoes: list[Echo], limit: int = 3) -> str:
    """The first few echoes, for a repair request or an error."""
    more = len(echoes) - limit
    return "; ".join(str(e) for e in echoes[:limit]) + (f" (and {more} more)" if more > 0 else "")
