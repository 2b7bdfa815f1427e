"""Per-token prices: configured prices win, then litellm's local price map; otherwise unknown."""

from __future__ import annotations

from functools import lru_cache

from core.budget import Prices
from core.config import Settings
from core.llm.providers import ModelRef


@lru_cache(maxsize=256)
def _litellm_prices(model: str) -> Prices:
    import litellm

    try:
        cost_in, cost_out = litellm.cost_per_token(model=model, prompt_tokens=1_000_000, completion_tokens=1_000_000)
    except Exception:  # litellm raises a variety of errors for models it has no price for
        return Prices(0.0, 0.0, known=False)
    return Prices(cost_in / 1_000_000, cost_out / 1_000_000)


def prices_for(ref: ModelRef, settings: Settings) -> Prices:
    configured = settings.pricing.get(ref.name) or settings.pricing.get(ref.litellm_model)
    if configured is not None:
        return Prices(configured.input_per_mtok / 1_000_000, configured.output_per_mtok / 1_000_000)
    if ref.api_base and ref.litellm_model.startswith("openai/"):
        # A custom OpenAI-compatible server: its name may collide with an OpenAI model's price.
        return Prices(0.0, 0.0, known=False)
    return _litellm_prices(ref.litellm_model)
