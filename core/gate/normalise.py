"""Text folding shared by the floor's rules and the texts it screens.

Both sides go through the same folding so that a rule written as ``losch`` matches "Lösch",
"LÖSCH" and "loesch" is the only spelling a rule author must add by hand. Folding keeps every
punctuation mark and inline code (SQL, shell) because clauses and literal command patterns need them.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Typographic variants people paste from documents or phones, folded to the ASCII the rules use.
_PUNCTUATION = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u00a0": " ",
    }
)
# Letters that have no decomposition, so stripping marks leaves them as they are: Polish "ł" ("usuń
# całą bazę"), Turkish dotless "ı" ("veritabanını"), Nordic "ø", "đ". Folded after casefolding.
_BARE_LETTERS = str.maketrans({"ł": "l", "ı": "i", "ø": "o", "đ": "d", "ħ": "h"})
_SPACES = re.compile(r"[ \t\r\f\v]+")
# A backslash escape in a pattern (``\S``, ``\W``, ``\B`` …) keeps its case: folding it would change
# its meaning (``\S`` is not ``\s``).
_ESCAPE_OR_CHAR = re.compile(r"\\.|.", re.DOTALL)


def _strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    kept = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return unicodedata.normalize("NFC", kept)


def fold(text: str) -> str:
    """``text`` as the rules see it: NFKC, casefolded, without diacritics, typographic quotes and dashes
    made ASCII, letters without a decomposition made plain ("ł" → "l"), runs of spaces made one (newlines
    kept: they end a clause)."""
    folded = unicodedata.normalize("NFKC", text).translate(_PUNCTUATION).casefold()
    folded = _strip_marks(folded).translate(_BARE_LETTERS)
    lines = (_SPACES.sub(" ", line).strip() for line in folded.split("\n"))
    return "\n".join(line for line in lines if line)


@lru_cache(maxsize=8192)
def fold_pattern(pattern: str) -> str:
    """A regular expression folded like the texts it will meet, its backslash escapes left as written."""
    nfkc = unicodedata.normalize("NFKC", pattern).translate(_PUNCTUATION)
    parts = (
        m.group(0) if m.group(0).startswith("\\") else m.group(0).casefold() for m in _ESCAPE_OR_CHAR.finditer(nfkc)
    )
    return _strip_marks("".join(parts)).translate(_BARE_LETTERS)
