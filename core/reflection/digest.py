"""A reflection digest as the scheduler posts it, platform-neutral: chat rendering lives in ``bots/chat``.

``build_digest`` (in this module) computes one from the store; every figure in it comes from rows,
and an empty period says so rather than showing zeros as if they were findings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core.reflection.period import Period

DigestKind = Literal["daily", "weekly"]


@dataclass(frozen=True)
class DigestSection:
    """A titled block of short lines (each a sentence or a figure; plain text, no markup)."""

    title: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Digest:
    kind: DigestKind
    period: Period
    # One line that says the most important thing about the period, shown first.
    headline: str
    # Unicode sparklines, one character per day of the period (and the week before, for weekly),
    # by name, e.g. {"score": "▁▃▅▇", "cost": "▂▂▇▁"}. Empty when the period has no tasks.
    sparklines: dict[str, str]
    sections: tuple[DigestSection, ...]
    # True when the period had no tasks at all: renderers show the headline alone.
    empty: bool = False
