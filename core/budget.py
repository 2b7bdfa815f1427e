"""A task's budget — tokens, dollars and wall-clock time — checked *before* every model call.

The check uses the call's projected cost (prompt tokens now, plus the most output the call may
produce) and caps the call's output to what is left, so a task never overspends by more than one
call's output, and usually not at all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from core.errors import BudgetExceeded, TaskTimeout
from core.models import Spend

MIN_OUTPUT_TOKENS = 64  # a call that cannot produce even this much is not worth making


@dataclass(frozen=True)
class Prices:
    """USD per token; ``known`` is False when no price is known (cost then counts as 0)."""

    input: float
    output: float
    known: bool = True


@dataclass
class TaskBudget:
    token_budget: int
    max_cost_usd: float
    timeout_seconds: float
    started: float = field(default_factory=time.monotonic)
    spend: Spend = field(default_factory=Spend)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def remaining_seconds(self) -> float:
        return self.timeout_seconds - self.elapsed

    @property
    def remaining_tokens(self) -> int:
        return self.token_budget - self.spend.tokens

    @property
    def remaining_usd(self) -> float:
        return self.max_cost_usd - self.spend.cost_usd

    @property
    def exhausted(self) -> bool:
        return self.spend.tokens >= self.token_budget or self.spend.cost_usd >= self.max_cost_usd

    def admit(self, prompt_tokens: int, wanted_output: int, prices: Prices) -> int:
        """Check a call before it is made; return the output-token cap it may use.

        Raises TaskTimeout or BudgetExceeded when even a minimal answer would not fit.
        """
        if self.remaining_seconds <= 0:
            raise TaskTimeout(f"time budget of {self.timeout_seconds:.0f}s used up")
        tokens_left = self.remaining_tokens - prompt_tokens
        if tokens_left < MIN_OUTPUT_TOKENS:
            raise BudgetExceeded(
                "token",
                f"{self.spend.tokens:,} used of {self.token_budget:,}; the next call needs "
                f"{prompt_tokens + MIN_OUTPUT_TOKENS:,} more",
            )
        cap = min(wanted_output, tokens_left)
        if prices.known and prices.output > 0:
            usd_left = self.remaining_usd - prompt_tokens * prices.input
            affordable = int(usd_left / prices.output)
            if affordable < MIN_OUTPUT_TOKENS:
                projected = prompt_tokens * prices.input + MIN_OUTPUT_TOKENS * prices.output
                raise BudgetExceeded(
                    "cost",
                    f"${self.spend.cost_usd:.4f} spent of ${self.max_cost_usd:.2f}; the next call "
                    f"would cost at least ${projected:.4f}",
                )
            cap = min(cap, affordable)
        return cap

    def charge(self, phase: str, tokens: int, cost_usd: float) -> None:
        self.spend.tokens += tokens
        self.spend.cost_usd += cost_usd
        self.spend.calls += 1
        self.spend.by_phase[phase] = self.spend.by_phase.get(phase, 0) + tokens
