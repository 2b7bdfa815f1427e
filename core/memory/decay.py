"""Decay: a memory's confidence fades with the time since it was last used.

It is computed from ``last_used_at`` whenever it is read and never written back, so a restart (or
reading it twice) cannot make a memory decay twice: effective = confidence × exp(−rate × weeks).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

WEEK = timedelta(weeks=1).total_seconds()


def effective_confidence(confidence: float, last_used: datetime, now: datetime, per_week: float) -> float:
    weeks = max(0.0, (now - last_used).total_seconds() / WEEK)
    return confidence * math.exp(-per_week * weeks)


def faded(confidence: float, last_used: datetime, now: datetime, per_week: float, floor: float) -> bool:
    """True when the memory is below ``floor``: no longer recalled, and prunable."""
    return effective_confidence(confidence, last_used, now, per_week) < floor
