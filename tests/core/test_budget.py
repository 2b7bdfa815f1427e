"""TaskBudget: admission before every call (tokens, dollars, time) and charging after it."""

from __future__ import annotations

import random
import time

import pytest

from core.budget import MIN_OUTPUT_TOKENS, Prices, TaskBudget
from core.errors import BudgetExceeded, TaskTimeout

FREE = Prices(input=0.0, output=0.0, known=False)
# Dyadic prices (exact in binary floating point): 1/1024 USD per input token, 1/256 per output token.
PRICED = Prices(input=1 / 1024, output=1 / 256)


def budget(tokens: int = 1_000, usd: float = 100.0, seconds: float = 60.0) -> TaskBudget:
    return TaskBudget(token_budget=tokens, max_cost_usd=usd, timeout_seconds=seconds)


# --- tokens ---------------------------------------------------------------------------------------


def test_output_cap_is_what_was_asked_when_it_fits() -> None:
    assert budget().admit(prompt_tokens=100, wanted_output=50, prices=FREE) == 50


def test_output_cap_is_limited_to_the_remaining_tokens() -> None:
    assert budget().admit(prompt_tokens=100, wanted_output=5_000, prices=FREE) == 900


def test_cap_shrinks_as_tokens_are_charged() -> None:
    b = budget()
    b.charge("execute", 400, 0.0)
    assert b.remaining_tokens == 600
    assert b.admit(prompt_tokens=100, wanted_output=5_000, prices=FREE) == 500


def test_prompt_plus_minimum_output_exactly_fitting_is_admitted() -> None:
    b = budget()
    prompt = 1_000 - MIN_OUTPUT_TOKENS
    assert b.admit(prompt_tokens=prompt, wanted_output=5_000, prices=FREE) == MIN_OUTPUT_TOKENS


def test_token_budget_exceeded_when_minimum_output_does_not_fit() -> None:
    b = budget()
    b.charge("plan", 500, 0.0)
    prompt = 500 - MIN_OUTPUT_TOKENS + 1  # one token short of room for a minimal answer
    with pytest.raises(BudgetExceeded) as caught:
        b.admit(prompt_tokens=prompt, wanted_output=10, prices=FREE)
    assert caught.value.kind == "token"
    assert "token budget exceeded" in str(caught.value)
    assert "500 used of 1,000" in str(caught.value)


def test_token_budget_exceeded_when_prompt_alone_is_too_big() -> None:
    with pytest.raises(BudgetExceeded) as caught:
        budget().admit(prompt_tokens=2_000, wanted_output=10, prices=FREE)
    assert caught.value.kind == "token"


def test_token_budget_exceeded_once_fully_spent() -> None:
    b = budget()
    b.charge("execute", 1_000, 0.0)
    assert b.exhausted
    with pytest.raises(BudgetExceeded):
        b.admit(prompt_tokens=0, wanted_output=10, prices=FREE)


# --- cost -------------------------------------------------------------------------------------------


def test_cost_caps_output_to_affordable_tokens() -> None:
    b = budget(tokens=1_000_000, usd=1.0)
    # 512 prompt tokens cost 0.5; the remaining 0.5 buys 128 output tokens at 1/256 each.
    assert b.admit(prompt_tokens=512, wanted_output=10_000, prices=PRICED) == 128


def test_cost_does_not_raise_the_cap_above_what_was_asked() -> None:
    b = budget(tokens=1_000_000, usd=1.0)
    assert b.admit(prompt_tokens=512, wanted_output=100, prices=PRICED) == 100


def test_token_limit_still_applies_when_cost_allows_more() -> None:
    b = budget(tokens=600, usd=1_000.0)
    assert b.admit(prompt_tokens=512, wanted_output=10_000, prices=PRICED) == 88


def test_cost_exactly_affording_the_minimum_is_admitted() -> None:
    b = budget(tokens=1_000_000, usd=1.0)
    # 768 prompt tokens cost 0.75; 0.25 left buys exactly 64 output tokens.
    assert b.admit(prompt_tokens=768, wanted_output=10_000, prices=PRICED) == MIN_OUTPUT_TOKENS


def test_cost_budget_exceeded_when_minimum_output_is_unaffordable() -> None:
    b = budget(tokens=1_000_000, usd=1.0)
    with pytest.raises(BudgetExceeded) as caught:
        b.admit(prompt_tokens=800, wanted_output=10_000, prices=PRICED)  # 0.21875 left buys 56
    assert caught.value.kind == "cost"
    assert "cost budget exceeded" in str(caught.value)


def test_cost_budget_counts_money_already_spent() -> None:
    b = budget(tokens=1_000_000, usd=1.0)
    assert b.admit(prompt_tokens=256, wanted_output=10, prices=PRICED) == 10
    b.charge("execute", 256, 0.75)
    with pytest.raises(BudgetExceeded) as caught:
        b.admit(prompt_tokens=256, wanted_output=10, prices=PRICED)  # 0.25 - 0.25 leaves nothing
    assert caught.value.kind == "cost"
    assert "$0.7500 spent of $1.00" in str(caught.value)


def test_unknown_prices_skip_the_cost_check() -> None:
    b = budget(tokens=1_000_000, usd=0.000_001)
    expensive_but_unknown = Prices(input=1.0, output=1.0, known=False)
    assert b.admit(prompt_tokens=1_000, wanted_output=500, prices=expensive_but_unknown) == 500
    # The same prices, known, are far beyond the budget.
    with pytest.raises(BudgetExceeded) as caught:
        b.admit(prompt_tokens=1_000, wanted_output=500, prices=Prices(input=1.0, output=1.0))
    assert caught.value.kind == "cost"


# --- time ---------------------------------------------------------------------------------------------


def test_timeout_when_time_is_up() -> None:
    b = budget(seconds=60.0)
    b.started = time.monotonic() - 61.0
    with pytest.raises(TaskTimeout, match="60s"):
        b.admit(prompt_tokens=10, wanted_output=10, prices=FREE)


def test_timeout_is_checked_before_tokens() -> None:
    b = budget(seconds=60.0)
    b.charge("execute", 1_000, 0.0)
    b.started = time.monotonic() - 120.0
    with pytest.raises(TaskTimeout):
        b.admit(prompt_tokens=10, wanted_output=10, prices=FREE)


def test_time_left_admits() -> None:
    b = budget(seconds=60.0)
    b.started = time.monotonic() - 59.0
    assert 0 < b.remaining_seconds <= 1.0
    assert b.admit(prompt_tokens=10, wanted_output=10, prices=FREE) == 10


# --- charge -----------------------------------------------------------------------------------------


def test_charge_accumulates_by_phase() -> None:
    b = budget()
    b.charge("plan", 100, 0.01)
    b.charge("execute", 300, 0.02)
    b.charge("execute", 50, 0.005)
    assert b.spend.tokens == 450
    assert b.spend.calls == 3
    assert b.spend.cost_usd == pytest.approx(0.035)
    assert b.spend.by_phase == {"plan": 100, "execute": 350}
    assert b.remaining_tokens == 550
    assert b.remaining_usd == pytest.approx(100.0 - 0.035)


# --- property: spending what was admitted never overspends ---------------------------------------------


@pytest.mark.parametrize("seed", range(40))
def test_spending_the_admitted_cap_never_overspends(seed: int) -> None:
    rng = random.Random(seed)
    prices = rng.choice(
        [FREE, Prices(input=3e-6, output=15e-6), Prices(input=1e-5, output=4e-5), Prices(input=0.0, output=2e-6)]
    )
    b = budget(tokens=rng.randint(1_000, 50_000), usd=rng.uniform(0.05, 0.5), seconds=600.0)
    largest_output = 0
    calls = 0
    while True:
        prompt = rng.randint(1, b.token_budget // 20)
        wanted = rng.randint(1, 8_000)
        try:
            cap = b.admit(prompt_tokens=prompt, wanted_output=wanted, prices=prices)
        except BudgetExceeded:
            break
        assert 0 < cap <= wanted
        largest_output = max(largest_output, cap)
        cost = prompt * prices.input + cap * prices.output if prices.known else 0.0
        b.charge("execute", prompt + cap, cost)  # the call used every token it was allowed
        calls += 1
        # The promise: never more than one call's output past the budget...
        assert b.spend.tokens <= b.token_budget + largest_output
        assert b.spend.cost_usd <= b.max_cost_usd + largest_output * prices.output + 1e-12
        # ...and, since each call is capped to what is left, in fact not past it at all.
        assert b.spend.tokens <= b.token_budget
        assert b.spend.cost_usd <= b.max_cost_usd + 1e-12
        assert calls < 10_000, "admission never refused"
    assert calls >= 1  # the first (small) call always fits, so the loop really ran
    assert b.spend.calls == calls
