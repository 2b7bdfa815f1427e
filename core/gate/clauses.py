"""A task cut into clauses, each read as doing something or only talking about it.

Why clauses: "explain the difference between DELETE and TRUNCATE" names a destructive statement without
asking for it, while "explain nothing, just drop the prod db" asks for it after a cue. A cue (explain,
review, draft, list, don't …) quiets only its own clause, and a new clause starts at a sentence end, at
"; " or ": ", and at a comma or conjunction followed by an action verb (", just drop …", "and delete …").
A clause's mode is read from its head, the words after polite lead-ins ("could you please"); a clause
that is only "run it" / "do it" brings back what an earlier drafting clause had quieted ("write the SQL
to drop the temp tables and run it"). Languages that put the verb last (Turkish, and German or Dutch after
a modal: "kannst du dir die Migration anschauen, die …") are read from the clause's tail. A scope cue ("plan
only, don't execute anything") makes the acting clauses before it drafts. Anything not recognised as talk
is action: the grammar errs towards caution.
"""

from __future__ import annotations

import bisect
import itertools
import re
from dataclasses import dataclass, replace

from core.gate.normalise import fold_pattern
from core.gate.spec import GrammarSpec, Mode

# A sentence ends here; ":" and "." only before a space or the end, so "s3://bucket", "config.yaml" and
# "v2.3" stay whole, while ";" always ends a statement (SQL, shell). An ellipsis ("DROP TABLE ... CASCADE")
# elides words inside a sentence: it ends none.
_STRONG = re.compile(r"(?:(?<!\.)\.|[!?:])(?=\s|$)|;|\n|[。！？；]")
# How far before a match a negation or a topic cue is looked for ("do not send", "the risk of dropping").
_NEAR = 48
_BETWEEN = re.compile(r"\b(?:between|entre|zwischen|tra|tussen|между)\b")
# A question whose first character is one of these is about a flag or a piece of code.
_CODE_OPENING = "-`$"
# Emoji and other pictographs open a chat message without being part of its words ("🎉 nice work …").
_PICTOGRAPH = re.compile(r"[\u2190-\u21ff\u2300-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff\ufe0f\u200d]")
# Skipped before a clause's head: spaces, and marks that open a sentence or a quote ("¿cómo …", "`rm …`").
_OPENING = " \t¿¡\"'`(*>-•[«"
# Scripts written without spaces: a cue anywhere in the clause sets its mode (the verb comes last).
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
# Identifiers count as words: "drop" is not in "drop_table", "api" not in "test_api".
_LETTER = "a-z0-9_\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff"
_WORD_CHAR = re.compile(f"[{_LETTER}]")
_ESCAPE = re.compile(r"\\.")
# Characters with a meaning of their own at the start of a regular expression.
_SPECIAL = set("\\()[]{}.*+?^$|")


def _unspaced(term: str) -> bool:
    """Whether ``term`` is written only in a script without spaces (its escapes such as ``\\S`` aside)."""
    bare = _ESCAPE.sub("", term)
    return bool(_UNSPACED.search(bare)) and not _WORD_CHAR.search(bare)


def alternation(terms: list[str]) -> str:
    """Terms as one regular expression that matches whole words only: "drop" is not in "dropdown" nor in
    "drop_table". Terms in scripts without spaces have no word edges to respect: "删除" is whole in
    "删除develop分支" and "注文" in "注文4411を返金して"."""
    # One guard around the whole alternation is the same assertion as one per term, and lets the regex
    # engine give up at once inside a word instead of trying every term there.
    spaced = [term for term in terms if not _unspaced(term)]
    unspaced = [term for term in terms if _unspaced(term)]
    parts: list[str] = []
    if spaced or not unspaced:
        parts.append(f"(?<![{_LETTER}])(?:{_dispatch(spaced)})(?![{_LETTER}])")
    if unspaced:
        # The lookahead lets the engine skip every position that does not start such a script at once.
        parts.append(f"(?={_UNSPACED.pattern})(?:{_dispatch(unspaced)})")
    return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"


def _dispatch(terms: list[str]) -> str:
    """The terms as one alternation grouped by their first character ("d(?:rop|elet\\w*)|w(?:ipe)"): at
    a word's start the engine tries one small group instead of every term. Terms that do not start with
    a plain character (a group, a class, an escape) are tried as they are, before the groups."""
    groups: dict[str, list[str]] = {}
    other: list[str] = []
    for term in terms:
        first = _plain_first(term)
        if first is None:
            other.append(f"(?:{term})")
        else:
            groups.setdefault(first, []).append(f"(?:{term[1:]})")
    grouped = [re.escape(first) + "(?:" + "|".join(rests) + ")" for first, rests in groups.items()]
    return "|".join([*other, *grouped])


def _plain_first(term: str) -> str | None:
    """The literal character ``term`` must start with, or ``None`` when it may start otherwise (a group,
    a class, an escape, a quantified first character, an alternation at the top level)."""
    if len(term) < 2 or term[0] in _SPECIAL or term[1] in "*+?{":
        return None
    depth, escaped, in_class = 0, False, False
    for char in term:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return None
    return term[0]


def _quoted(body: str) -> bool:
    """Whether ``body`` is only a quoted span: `…`, '…' or "…"."""
    body = body.strip()
    return len(body) > 2 and body[0] in "`'\"" and body[-1] == body[0]


@dataclass(frozen=True)
class Clause:
    """One clause of the folded text: ``[start, end)``; ``core`` is where its head starts; ``private``
    when it names only the person's own machine ("on my laptop", "my local minikube")."""

    start: int
    end: int
    core: int
    mode: Mode
    cue: str
    anaphora: bool
    private: bool = False


class Grammar:
    """The compiled ``[grammar]`` of a rulebook: splits folded text into clauses."""

    def __init__(self, spec: GrammarSpec) -> None:
        def compile_alt(terms: list[str]) -> str:
            return alternation([fold_pattern(t) for t in terms])

        act = compile_alt(spec.act_verbs)
        conj = compile_alt(spec.conjunctions)
        leads = compile_alt(spec.leads)
        # "…, just drop it", "… and delete them", "I lost access, can you paste …": a conjunction or a
        # polite lead-in may come before the verb.
        self._weak = re.compile(rf"(?:,\s*|\s+{conj}\s+|、)(?=(?:(?:{conj}|{leads})\s+)*{act})")
        self._lead = re.compile(rf"(?:{leads}|{conj})(?:\s*[,!]\s*|\s+|$)")
        self._anaphora = re.compile(rf"{compile_alt(spec.anaphora)}\s*$")
        self._heads = (
            (Mode.NEGATED, re.compile(compile_alt(spec.negation_head))),
            (Mode.TALK, re.compile(compile_alt(spec.talk))),
            (Mode.DRAFT, re.compile(compile_alt(spec.draft))),
            (Mode.READ, re.compile(compile_alt(spec.read))),
        )
        self._artefact = re.compile(
            rf"{compile_alt(spec.artefact_verbs)}(?:\s+\S+){{0,4}}?\s+{compile_alt(spec.artefacts)}"
        )
        self._anywhere = re.compile(compile_alt(spec.anywhere_talk))
        self._talk_near = re.compile(rf"{compile_alt(spec.talk_near)}\s+$")
        self._negation_near = re.compile(rf"{compile_alt(spec.negation_near)}(?:\s+\S+){{0,2}}\s*$")
        self._negation_after = re.compile(compile_alt(spec.negation_after))
        self._statement = re.compile(compile_alt(spec.statement))
        self._private = re.compile(compile_alt(spec.private))
        self._shared = re.compile(compile_alt(spec.shared))
        self._negation_tail = re.compile(rf"{compile_alt(spec.negation_tail)}\s*$")
        self._act_head = re.compile(act)
        # A verb-final clause names its verb at its end, or just before a relative clause that describes
        # the object ("… anschauen, die die Spalte entfernt").
        tail_end = rf"(?=[\s?!.]*$|\s*,\s*{compile_alt(spec.relative)})"
        self._tails = (
            (Mode.TALK, re.compile(compile_alt(spec.talk_tail) + tail_end)),
            (Mode.DRAFT, re.compile(compile_alt(spec.draft_tail) + tail_end)),
            (Mode.READ, re.compile(compile_alt(spec.read_tail) + tail_end)),
        )
        self._talk_anywhere = re.compile(compile_alt(spec.talk_anywhere))
        self._plan_only = re.compile(compile_alt(spec.plan_only))
        self._hands_off = re.compile(compile_alt(spec.hands_off))
        edit, code_files = compile_alt(spec.edit_verbs), compile_alt(spec.code_files)
        # "drop Python 3.8 support", "remove the lodash dependency from package.json", "update the README to
        # …": an edit of code, which runs nothing until a person merges it.
        self._code_edit = re.compile(
            rf"{edit}(?:\s+\S+){{0,4}}?\s+{compile_alt(spec.code_objects)}"
            rf"|{edit}(?:\s+\S+){{0,8}}?\s+(?:from|in|inside|within|out of|aus|de|dans|uit|z|ze)\s+"
            rf"(?:\S+\s+){{0,2}}?{code_files}"
            rf"|{edit}\s+(?:\S+\s+){{0,2}}?{code_files}(?=\s+(?:to|so|with|for|and|by|in|on)\b|\s*[,.;:!?]|\s*$)"
        )

    def split(self, text: str) -> list[Clause]:
        """The clauses of folded ``text``, in order; the punctuation that ends a sentence belongs to none."""
        pieces: list[tuple[int, int, bool]] = []  # start, end, after a colon
        start = 0
        colon = False
        for match in _STRONG.finditer(text):
            pieces.extend(self._weak_split(text, start, match.start(), colon))
            colon = match.group(0) == ":"
            start = match.end()
        if start < len(text):
            pieces.extend(self._weak_split(text, start, len(text), colon))
        clauses: list[Clause] = []
        for begin, end, after_colon in pieces:
            clause = self._read(text, begin, end)
            previous = clauses[-1] if clauses else None
            # "explain what this does: rm -rf $TMPDIR" — a colon after a cue introduces what the cue
            # is about, unless the clause restarts with a lead-in ("review done: now drop it").
            if (
                after_colon
                and previous is not None
                and previous.mode is not Mode.ACT
                and clause.mode in (Mode.ACT, Mode.READ)
                and clause.core == self._skip_space(text, begin)
            ):
                clause = replace(clause, mode=previous.mode, cue=previous.cue)
            # "is this safe to run on prod? `ALTER TABLE …`": code quoted right after a question is what
            # the question is about.
            elif (
                previous is not None
                and previous.mode is Mode.TALK
                and text.startswith("?", previous.end)
                and clause.mode is Mode.ACT
                and _quoted(text[begin:end])
            ):
                clause = replace(clause, mode=Mode.TALK, cue=previous.cue)
            clauses.append(clause)
        return self._scoped(text, clauses)

    def _scoped(self, text: str, clauses: list[Clause]) -> list[Clause]:
        """The clauses with those before a scope cue made drafts: "plan only, don't execute anything" covers
        the whole request. A weaker cue ("do not send", "I'll run it myself") only covers a request that
        starts by drafting or asking ("draft the email to all customers; do not send")."""
        last, cue = -1, ""
        drafting = bool(clauses) and clauses[0].mode is not Mode.ACT
        for index, clause in enumerate(clauses):
            found = self._plan_only.search(text, clause.core, clause.end)
            if found is None and drafting:
                found = self._hands_off.search(text, clause.core, clause.end)
            if found is not None:
                last, cue = index, found.group(0)
        if last < 0:
            return clauses
        return [
            replace(clause, mode=Mode.DRAFT, cue=cue) if index <= last and clause.mode is Mode.ACT else clause
            for index, clause in enumerate(clauses)
        ]

    @staticmethod
    def clause_at(clauses: list[Clause], position: int) -> Clause:
        """The clause holding ``position`` (or, on a sentence's end mark, the clause it ends)."""
        index = bisect.bisect_right(clauses, position, key=lambda clause: clause.start)
        return clauses[max(0, index - 1)]

    def discussed_near(self, text: str, clause: Clause, start: int) -> bool:
        """Words just before ``start`` that make what follows a topic, not a request ("the risk of
        dropping …", "how to delete …", "instead of wiping …")."""
        return bool(self._talk_near.search(text, max(clause.start, start - _NEAR), start))

    def negated_near(self, text: str, clause: Clause, start: int, end: int) -> bool:
        """A negation just before the words at ``[start, end)`` ("do not send", "without deleting",
        "ne supprime pas") or just after them ("削除しないで")."""
        if self._negation_near.search(text, max(clause.start, start - _NEAR), start):
            return True
        return bool(self._negation_after.match(text, end, min(clause.end, end + 12)))

    @staticmethod
    def _skip_space(text: str, position: int) -> int:
        while position < len(text) and (text[position] in _OPENING or _PICTOGRAPH.match(text, position)):
            position += 1
        return position

    @staticmethod
    def _skip_blank(text: str, position: int) -> int:
        while position < len(text) - 1 and text[position] in " \t":
            position += 1
        return position

    def _weak_split(self, text: str, start: int, end: int, colon: bool) -> list[tuple[int, int, bool]]:
        # "the difference between TRUNCATE and DELETE": "and" joins two names, it starts no instruction.
        cuts = [
            m.start()
            for m in self._weak.finditer(text, start, end)
            if m.start() > start and not _BETWEEN.search(text, start, m.start())
        ]
        bounds = [start, *cuts, end]
        return [(a, b, colon and i == 0) for i, (a, b) in enumerate(itertools.pairwise(bounds)) if a < b]

    def _read(self, text: str, start: int, end: int) -> Clause:
        clause = self._mode(text, start, end)
        body = text[start:end]
        if self._private.search(body) and not self._shared.search(body):
            clause = replace(clause, private=True)
        return clause

    def _mode(self, text: str, start: int, end: int) -> Clause:
        core = self._skip_space(text, start)
        if text.startswith((",", "、"), core):
            # A clause cut at a comma starts on it: ", then do it" is read from "then".
            core = self._skip_space(text, core + 1)
        while True:
            lead = self._lead.match(text, core, end)
            if lead is None or lead.end() == core:
                break
            core = self._skip_space(text, lead.end())
        body = text[core:end]
        anaphora = bool(self._anaphora.match(text, core, end))
        for mode, pattern in self._heads:
            head = pattern.match(text, core, end)
            if head:
                return Clause(start, end, core, mode, head.group(0), anaphora)
        artefact = self._artefact.match(text, core, end) or self._code_edit.match(text, core, end)
        if artefact:
            return Clause(start, end, core, Mode.DRAFT, artefact.group(0), anaphora)
        # "the prod deploy is stuck", "the DELETE endpoint returns 500": a description, not a request.
        statement = self._statement.match(text, core, end)
        if statement:
            return Clause(start, end, core, Mode.TALK, statement.group(0), anaphora)
        if _UNSPACED.search(body):
            found = self._anywhere.search(body)
            if found:
                return Clause(start, end, core, Mode.TALK, found.group(0), anaphora)
            # Without a verb up front, a question mark is the clearest sign of a question.
            if text.startswith("?", end):
                return Clause(start, end, core, Mode.TALK, "?", anaphora)
        # "--force-with-lease vs --force": a comparison asks which, it runs neither; so does a Turkish
        # question word, wherever it stands.
        asked = self._talk_anywhere.search(text, core, end)
        if asked:
            return Clause(start, end, core, Mode.TALK, asked.group(0), anaphora)
        for mode, pattern in self._tails:
            found = pattern.search(text, core, end)
            if found:
                return Clause(start, end, core, mode, found.group(0), anaphora)
        tail = self._negation_tail.search(text, core, end)
        if tail:
            return Clause(start, end, core, Mode.NEGATED, tail.group(0), anaphora)
        # A question about a flag or a piece of code ("--force or --force-with-lease?") asks, and so does
        # a Spanish question that opens with no request ("¿este bucket es público?").
        opening = text[self._skip_blank(text, start)]
        if text.startswith("?", end) and (opening in _CODE_OPENING or (opening == "¿" and core == start + 1)):
            return Clause(start, end, core, Mode.TALK, "?", anaphora)
        return Clause(start, end, core, Mode.ACT, "", anaphora)
