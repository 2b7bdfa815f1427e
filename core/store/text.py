"""Text SQLite can store: what arrives from a platform's JSON may hold lone UTF-16 surrogates
(``"\\ud800"`` is valid JSON), which Python keeps in a ``str`` but cannot encode as UTF-8, so SQLite
refuses the whole statement. Each one is replaced by U+FFFD; everything else is kept as it was."""

from __future__ import annotations


def storable(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD (a surrogate pair is joined into its character)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # UTF-16 is where surrogates belong: pairs encode and decode back to their character, lone
        # halves fail to decode and become U+FFFD.
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text
