"""The one door to models: every call goes through litellm here.

Per call: budget admission with the projected cost, the retry policy, context-overflow
shrinking, and a usage record (task, phase, role, model, tokens, cost). ``structured`` asks for a
pydantic schema via ``response_format`` and validates the reply, with one repair attempt.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

from core.budget import Prices, TaskBudget
from core.config import Settings
from core.errors import ModelCallError, StructuredOutputError
from core.llm import providers
from core.llm.pricing import prices_for
from core.llm.retry import is_overflow, is_retryable, make_wait
from core.models import Phase, Role
from core.prompt import Prompt
from core.store.usage import UsageRepository

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)

MAX_SHRINKS = 4


@dataclass(frozen=True)
class CallContext:
    """Who a call is for: usage is recorded against the task and its budget is checked."""

    task_id: str | None
    budget: TaskBudget | None


@dataclass
class Completion:
    content: str | None
    tool_calls: list[dict[str, Any]]
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    model: str


@dataclass
class _Litellm:
    """litellm, imported on first use with the environment it needs to stay offline and quiet."""

    module: Any = None

    def get(self) -> Any:
        if self.module is None:
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            import litellm

            litellm.suppress_debug_info = True
            litellm.telemetry = False
            litellm.drop_params = True  # providers that lack e.g. response_format get it dropped, not a 400
            self.module = litellm
        return self.module


_LITELLM = _Litellm()


def warm_up() -> None:
    """Import litellm now (2–3 s of CPU). A service calls this in a worker thread before it listens,
    so the first model call does not hold the event loop (and every platform's ack) that long.

    Also imports what litellm and the OpenAI SDK otherwise import lazily on their first request
    (measured: ~0.7 s of imports on the loop during the first task of a chat service).
    """
    import importlib

    _LITELLM.get()
    for name in ("openai.resources.chat", "openai.resources.chat.completions", "litellm.llms.openai.openai"):
        # The SDK's types trip a harmless pydantic notice ("ReadOnly qualifier") that would reach stderr.
        with contextlib.suppress(ImportError), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            importlib.import_module(name)


@lru_cache(maxsize=64)
def _json_schema(schema: type[BaseModel]) -> dict[str, Any]:
    # Building a schema costs ~1-2 ms; the schema of a class never changes.
    return schema.model_json_schema()


def _estimate_tokens(prompt: Prompt) -> int:
    # ~3 characters per token over-estimates for English and code, which keeps the budget
    # check conservative without paying for a tokenizer on every call.
    return prompt.chars() // 3 + 8 * (len(prompt.tail) + 2)


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def extract_json(text: str) -> str:
    """The JSON object in a reply, tolerating a code fence or prose around it."""
    match = _FENCE.match(text)
    if match:
        return match.group(1)
    start, end = text.find("{"), text.rfind("}")
    if start != -1 and end > start and (start > 0 or end < len(text) - 1):
        return text[start : end + 1]
    return text


@dataclass
class ModelGateway:
    settings: Settings
    usage: UsageRepository | None = None
    on_notice: Callable[[str], Any] | None = None
    overrides: dict[Role, str] = field(default_factory=dict)
    _refs: dict[Role, providers.ModelRef] = field(default_factory=dict)

    def ref_for(self, role: Role) -> providers.ModelRef:
        """The model for a role; validated once ("did you mean") before its first call."""
        if role not in self._refs:
            name = self.overrides.get(role) or providers.role_model_name(role, self.settings)
            ref = providers.reference(name, self.settings)
            providers.validate(ref, self.settings)
            self._refs[role] = ref
        return self._refs[role]

    def prices(self, ref: providers.ModelRef) -> Prices:
        _LITELLM.get()
        return prices_for(ref, self.settings)

    async def complete(
        self,
        ctx: CallContext,
        role: Role,
        phase: Phase,
        prompt: Prompt,
        *,
        tools: list[dict[str, Any]] | None = None,
        response_format: dict[str, Any] | None = None,
        max_tokens: int = 4096,
    ) -> Completion:
        litellm = _LITELLM.get()
        ref = self.ref_for(role)
        prices = self.prices(ref)
        shrinks = 0
        while True:
            cap = max_tokens
            timeout = self.settings.retry.call_timeout
            if ctx.budget is not None:
                cap = ctx.budget.admit(_estimate_tokens(prompt), max_tokens, prices)
                timeout = max(1.0, min(timeout, ctx.budget.remaining_seconds))
            kwargs: dict[str, Any] = {
                "model": ref.litellm_model,
                "messages": prompt.messages(),
                "max_tokens": cap,
                "timeout": timeout,
                "max_retries": 0,  # the OpenAI SDK's own retries would double ours
                "num_retries": 0,
            }
            if ref.api_base:
                kwargs["api_base"] = ref.api_base
            if ref.api_key:
                kwargs["api_key"] = ref.api_key
            if tools:
                kwargs["tools"] = tools
            if response_format:
                kwargs["response_format"] = response_format
            started = time.monotonic()
            try:
                response = await self._with_retries(litellm, kwargs)
            except ModelCallError:
                raise
            except Exception as exc:
                if not is_overflow(exc):
                    raise ModelCallError(f"{ref}: {type(exc).__name__}: {_short(exc)}") from exc
                shrinks += 1
                if shrinks > MAX_SHRINKS or not prompt.shrink():
                    raise ModelCallError(f"{ref}: the context is too large even after shrinking it") from exc
                self._notice(f"{ref}: context overflow, shrinking the prompt and retrying")
                continue
            return await self._account(ctx, role, phase, ref, prices, response, started)

    async def _with_retries(self, litellm: Any, kwargs: dict[str, Any]) -> Any:
        retry = self.settings.retry
        attempts = AsyncRetrying(
            retry=retry_if_exception(is_retryable),
            stop=stop_after_attempt(retry.max_attempts),
            wait=make_wait(retry),
            reraise=True,
            before_sleep=lambda state: self._notice(
                f"{kwargs['model']}: {type(state.outcome.exception()).__name__ if state.outcome else 'error'}, "
                f"retry {state.attempt_number} of {retry.max_attempts - 1}"
            ),
        )
        try:
            async for attempt in attempts:
                with attempt:
                    return await litellm.acompletion(**kwargs)
        except Exception as exc:
            if is_retryable(exc):
                raise ModelCallError(
                    f"{kwargs['model']}: gave up after {retry.max_attempts} attempts: "
                    f"{type(exc).__name__}: {_short(exc)}"
                ) from exc
            raise
        raise AssertionError("unreachable")

    async def _account(
        self,
        ctx: CallContext,
        role: Role,
        phase: Phase,
        ref: providers.ModelRef,
        prices: Prices,
        response: Any,
        started: float,
    ) -> Completion:
        usage = getattr(response, "usage", None)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        cost = prompt_tokens * prices.input + completion_tokens * prices.output
        if ctx.budget is not None:
            ctx.budget.charge(phase.value, prompt_tokens + completion_tokens, cost)
        if self.usage is not None:
            await self.usage.record(
                task_id=ctx.task_id,
                phase=phase.value,
                role=role.value,
                model=ref.name,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                cost_usd=cost,
                priced=prices.known,
                latency_ms=int((time.monotonic() - started) * 1000),
            )
        message = response.choices[0].message
        tool_calls = [
            {"id": c.id, "name": c.function.name, "arguments": c.function.arguments or "{}"}
            for c in (getattr(message, "tool_calls", None) or [])
        ]
        return Completion(message.content, tool_calls, prompt_tokens, completion_tokens, cost, ref.name)

    def response_format_for(self, role: Role, schema: type[BaseModel], prompt: Prompt) -> dict[str, Any]:
        """``json_schema`` where the provider supports it; otherwise JSON mode plus the schema in the prompt."""
        ref = self.ref_for(role)
        mode = ref.structured_output
        if mode == "auto":
            litellm = _LITELLM.get()
            try:
                supported = bool(litellm.supports_response_schema(model=ref.litellm_model))
            except Exception:
                supported = False
            mode = "json_schema" if supported else "json_object"
        json_schema = _json_schema(schema)
        if mode == "json_schema":
            return {
                "type": "json_schema",
                "json_schema": {"name": schema.__name__, "schema": json_schema, "strict": False},
            }
        prompt.system += (
            f"\n\nReply with one JSON object only, matching this JSON schema ({schema.__name__}):\n"
            + json.dumps(json_schema, ensure_ascii=False)
        )
        return {"type": "json_object"}

    async def structured(
        self,
        ctx: CallContext,
        role: Role,
        phase: Phase,
        prompt: Prompt,
        schema: type[T],
        *,
        check: Callable[[T], None] | None = None,
        max_tokens: int = 2048,
    ) -> T:
        """Ask for ``schema``; validate (and run ``check``, which raises ValueError); repair once.

        Raises StructuredOutputError when the second reply is still invalid, ModelCallError when
        the call itself fails. Never returns a guessed value.
        """
        response_format = self.response_format_for(role, schema, prompt)
        problem = ""
        for attempt in range(2):
            completion = await self.complete(
                ctx, role, phase, prompt, response_format=response_format, max_tokens=max_tokens
            )
            text = completion.content or ""
            try:
                value = schema.model_validate_json(extract_json(text))
                if check is not None:
                    check(value)
                return value
            except (ValidationError, ValueError) as exc:
                problem = _short(exc, 600)
                log.info("invalid %s reply (attempt %d): %s", schema.__name__, attempt + 1, problem)
                if attempt == 0:
                    self._notice(f"{schema.__name__}: reply did not match the schema, asking once more")
                    prompt.tail += [
                        {"role": "assistant", "content": text[:4000]},
                        {
                            "role": "user",
                            "content": "Your reply was not valid for the required JSON schema "
                            f"{schema.__name__}: {problem}\nReply again with only the corrected JSON object.",
                        },
                    ]
        raise StructuredOutputError(schema.__name__, problem)

    def _notice(self, text: str) -> None:
        log.info(text)
        if self.on_notice is not None:
            self.on_notice(text)


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
