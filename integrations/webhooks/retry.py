"""When a failed delivery is tried again: the retry schedule, with jitter, and a receiver's ``Retry-After``.

The schedule lists the wait before each attempt: the first (normally 0: at once) is counted from the event, each
later one from the failure before it. A wait is drawn uniformly within ± ``jitter`` of the listed one, so
deliveries that failed together (an outage) do not all return at the same moment. Past the last entry the
delivery has failed for good (a person may still ``redeliver`` it).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RetrySchedule:
    delays: Sequence[float]
    jitter: float = 0.2
    rng: random.Random = field(default_factory=random.Random, compare=False)

    @property
    def attempts(self) -> int:
        """How many attempts a delivery gets before it has failed."""
        return len(self.delays)

    def bounds(self, step: int) -> tuple[float, float]:
        """The least and most seconds waited before attempt ``step`` (from 0)."""
        listed = self.delays[step]
        return listed * (1 - self.jitter), listed * (1 + self.jitter)

    def wait(self, step: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait before attempt ``step``; None when there is none (retries ran out). A receiver's
        ``Retry-After`` lengthens the wait (never beyond the schedule's longest), never shortens it."""
        if step >= len(self.delays):
            return None
        low, high = self.bounds(step)
        drawn = self.rng.uniform(low, high)
        if retry_after is not None and retry_after > drawn:
            drawn = min(retry_after, max(self.delays) * (1 + self.jitter))
        return drawn
