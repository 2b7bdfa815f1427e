"""The rows the reflection queries (``core.store.reflection``) return, named as the figures use them.

Times are ISO-8601 UTC text, as stored; a figure with no rows behind it is None (a mean) or 0 (a count).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskFigures:
    """Over the tasks that ended in a range: how many, their final scores, their iterations, and the
    first-to-final figures over those with at least one scored iteration."""

    tasks: int = 0
    scored: int = 0
    mean_score: float | None = None
    iterations: int = 0  # in total
    ran: int = 0  # tasks with at least one iteration
    gain_tasks: int = 0  # tasks with at least one scored iteration
    mean_first: float | None = None
    mean_final: float | None = None
    mean_gain: float | None = None


@dataclass(frozen=True)
class Place:
    platform: str
    channel: str | None  # None: the terminal (no channel)
    tasks: int


@dataclass(frozen=True)
class ModelSpend:
    model: str
    calls: int
    tokens: int
    cost_usd: float
    unpriced: int  # calls with no known price (their cost counts as 0)


@dataclass(frozen=True)
class Override:
    """A person's (or the clock's) decision on a blocked task: status approved, denied, expired or cancelled."""

    task_id: str
    description: str
    kind: str  # guardian_block | dissent_block
    status: str
    decided_by: str | None  # None when it expired
    decided_at: str
    task_status: str  # how the task stands now


@dataclass(frozen=True)
class DissentingVote:
    """A vote against its own deliberation's verdict (a BLOCK under an approval, or an approval under a block)."""

    task_id: str
    description: str
    verdict: str  # approved | guardian_block | dissent_block
    agency: str
    vote: str
    reason: str


@dataclass(frozen=True)
class LearningFigures:
    added: int  # memories created in the range
    reinforced: int  # reinforced at least once and last used in the range (an upper bound)
    examples: tuple[str, ...]  # texts of the added ones, newest first


@dataclass(frozen=True)
class FeedbackNote:
    task_id: str
    description: str
    vote: int  # +1 👍, -1 👎
    note: str
    voter: str


@dataclass(frozen=True)
class FeedbackFigures:
    up: int
    down: int
    notes: tuple[FeedbackNote, ...]  # the votes with a note, oldest first


@dataclass(frozen=True)
class DownVote:
    task_id: str
    description: str
    voter: str
    note: str | None
    status: str  # the task's final status
    decision: str | None  # "accept": its score met the quality threshold
    score: float | None

    @property
    def passed_threshold(self) -> bool:
        return self.decision == "accept"


@dataclass(frozen=True)
class Regression:
    task_id: str
    description: str
    decision: str | None
    drop: float | None  # the largest fall from an earlier to a later iteration; None if only the decision says so
    scores: str | None  # the scored iterations in order, e.g. "0.80 → 0.60"


@dataclass(frozen=True)
class Escalation:
    task_id: str
    description: str
    reason: str | None
    score: float | None


@dataclass(frozen=True)
class BelowBar:
    """A task that finished with a result scored below its quality bar."""

    task_id: str
    description: str
    reason: str | None  # "below the bar (0.20 < 0.80): refinement failed: …"
    score: float | None


@dataclass(frozen=True)
class OverrideFailure:
    task_id: str
    description: str
    outcome: str  # failed | aborted | below_bar
    reason: str | None
    decided_by: str | None
    kind: str


@dataclass(frozen=True)
class EconomistCheck:
    task_id: str
    description: str
    vote: str  # APPROVE, APPROVE_WITH_CAVEAT, ABSTAIN or BLOCK
    reason: str
    actual_cost_usd: float
    predicted_cost_usd: float | None  # None: deliberated before the Economist's estimates were recorded

    @property
    def miss_usd(self) -> float | None:
        """How far the estimate was from the actual cost (positive: it cost more than predicted)."""
        return None if self.predicted_cost_usd is None else self.actual_cost_usd - self.predicted_cost_usd
