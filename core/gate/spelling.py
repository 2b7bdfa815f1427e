"""Typos in the words the floor's rules turn on, read as the words meant: "trncate" is "truncate",
"databse" is "database", "deplyo" is "deploy".

Only the rulebook's ``spelling`` words are corrected, and only a word one edit away (a letter left out,
added, changed, or two letters swapped) from exactly one of them, with the same first letter and at least
six letters, so that a real word is never read as another ("remote" is not "remove": that is why
"remove" is not in the list). Candidates are found through the words' one-letter deletions (as
SymSpell does), which costs a few dictionary look-ups per long word.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"(?<![a-z0-9_])[a-z]{6,}(?![a-z0-9_])")
MIN_LENGTH = 6
_ENDINGS = {"s", "es", "d", "ed", "r", "er", "n", "ing"}


def _deletions(word: str) -> set[str]:
    return {word[:index] + word[index + 1 :] for index in range(len(word))}


def _inflected(a: str, b: str) -> bool:
    """Whether one word is the other with an ending ("invoice", "invoices"; "delete", "deleted")."""
    shorter, longer = (a, b) if len(a) < len(b) else (b, a)
    return longer.startswith(shorter) and longer[len(shorter) :] in _ENDINGS


def one_edit_apart(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ by one insertion, deletion, substitution or swap of neighbours."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [index for index in range(len(a)) if a[index] != b[index]]
        if len(diff) == 1:
            return True
        first, second = diff[0], diff[-1]
        return len(diff) == 2 and second == first + 1 and a[first] == b[second] and a[second] == b[first]
    shorter, longer = (a, b) if len(a) < len(b) else (b, a)
    return any(longer[:index] + longer[index + 1 :] == shorter for index in range(len(longer)))


class Speller:
    """Corrects typos of a fixed list of words in folded text."""

    def __init__(self, words: list[str]) -> None:
        self._words = {word for word in words if len(word) >= MIN_LENGTH}
        self._index: dict[str, set[str]] = {}
        for word in self._words:
            for key in {word, *_deletions(word)}:
                self._index.setdefault(key, set()).add(word)

    def correct(self, text: str) -> str:
        """``text`` with each typo of a listed word replaced by the word (other text unchanged)."""
        if not self._words:
            return text
        return _WORD.sub(self._replacement, text)

    def _replacement(self, match: re.Match[str]) -> str:
        token = match.group(0)
        if token in self._words:
            return token
        found: set[str] = set()
        for key in {token, *_deletions(token)}:
            found |= self._index.get(key, set())
        # "deletes", "invoice": a listed word with an ending or without one is another form of it, not
        # a typo (and "invoice" is not "invoices" to the rules).
        candidates = [
            word
            for word in found
            if word[0] == token[0] and not _inflected(word, token) and one_edit_apart(word, token)
        ]
        return candidates[0] if len(candidates) == 1 else token
