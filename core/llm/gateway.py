"""The one door to models: every call goes through litellm here.

Per call: budget admission with the projected cost, the retry policy (bounded by the task's time
budget), context-overflow shrinking, what the endpoint refused before (``core.llm.endpoint``), and a
usage record (task, phase, role, model, tokens, cost) — counted locally when the server reports
none. A structured reply (a schema, validated, repaired once) is ``core.llm.structured.ask``, which calls
through here; nothing here calls it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from core.budget import Prices, TaskBudget
from core.config import Settings
from core.errors import BudgetExceeded, ModelCallError, TaskTimeout
from core.llm import providers
from core.llm.endpoint import Endpoint, endpoint_for, is_format_refusal, is_tools_refusal, slot_for
from core.llm.failures import describe
from core.llm.pricing import prices_for
from core.llm.retry import is_overflow, is_retryable, make_wait
from core.models import Phase, Role
from core.prompt import Prompt
from core.store.usage import UsageRepository
from core.text import CHARS_PER_TOKEN, estimated_tokens

log = logging.getLogger(__name__)

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
    finish_reason: str | None = None

    @property
    def truncated(self) -> bool:
        """The reply stopped at the output limit: it is incomplete, whatever it looks like."""
        return self.finish_reason == "length"


class FormatRefused(Exception):
    """The server refused the response_format sent (internal: the structured call renegotiates)."""

    def __init__(self, mode: str, cause: BaseException) -> None:
        super().__init__(f"response_format {mode} refused: {cause}")
        self.mode = mode


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


def load_litellm() -> Any:
    """litellm, imported on first use with the environment it needs to stay offline and quiet: the one
    place that imports it (about 2 s of CPU the first time; call it in a thread from the event loop)."""
    return _LITELLM.get()


def warm_up() -> None:
    """Import litellm now (2–3 s of CPU). A service calls this in a worker thread before it listens,
    so the first model call does not hold the event loop (and every platform's ack) that long.

    Also walks what litellm and the OpenAI SDK otherwise do lazily on their first request: litellm
    imports its proxy types (~0.2 s) on every first ``completion``, and the SDK imports httpx's
    transports (~0.08 s) when it makes its first client. litellm's ``completion`` runs in a thread
    but holds the GIL for all of that, so a first task during a burst of commands stalled every
    acknowledgement by ~0.3 s (measured by tests/benchmarks/ack_latency). ``mock_response`` is
    litellm's own offline answer: no request leaves the process.
    """
    import importlib

    litellm = _LITELLM.get()
    modules = ("openai.resources.chat", "openai.resources.chat.completions", "litellm.llms.openai.openai")
    for name in (*modules, "litellm._service_logger"):
        # The SDK's types trip a harmless pydantic notice ("ReadOnly qualifier") that would reach stderr.
        with contextlib.suppress(ImportError), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            importlib.import_module(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        litellm.completion(
            model="openai/warm-up", messages=[{"role": "user", "content": "warm-up"}], api_key="-", mock_response="-"
        )
        import httpx
        from openai.types.chat import ChatCompletion

        httpx.Client().close()  # its transports (httpcore, h11, h2) are what the SDK imports on first use
        # The SDK's response types build their validators on first use (~6 ms on the loop): build them now.
        ChatCompletion.model_validate(
            {
                "id": "-",
                "object": "chat.completion",
                "created": 0,
                "model": "-",
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "-"}}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )


def estimate_tokens(prompt: Prompt) -> int:
    # The estimate of core.text, with a few tokens per message for the chat template; each endpoint
    # scales it by what its server really counted (Endpoint.estimate).
    return prompt.chars() // CHARS_PER_TOKEN + 8 * (len(prompt.tail) + 2)


@dataclass
class ModelGateway:
    settings: Settings
    usage: UsageRepository | None = None
    # Called with (text, level) for what a person may want to know (retries, negotiated fallbacks).
    on_notice: Callable[[str, str], Any] | None = None
    overrides: dict[Role, str] = field(default_factory=dict)
    _refs: dict[Role, providers.ModelRef] = field(default_factory=dict)
    _told: set[str] = field(default_factory=set)

    def ref_for(self, role: Role) -> providers.ModelRef:
        """The model for a role, checked once before its first call: its credentials are set
        (MissingCredentials, no network, no litellm import) and its name is known ("did you mean")."""
        if role not in self._refs:
            name = self.overrides.get(role) or providers.role_model_name(role, self.settings)
            ref = providers.reference(name, self.settings)
            providers.require_credentials(ref)
            providers.validate(ref, self.settings)
            self._refs[role] = ref
        return self._refs[role]

    def prices(self, ref: providers.ModelRef) -> Prices:
        _LITELLM.get()
        return prices_for(ref, self.settings)

    def temperature(self, role: Role, structured: bool) -> float | None:
        """The configured temperature: always sent for structured calls (servers default to ~0.8)."""
        value = getattr(self.settings.temperature, role.value)
        if value is None and structured:
            return 0.2
        return value if isinstance(value, float | int) else None

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
        temperature: float | None = None,
    ) -> Completion:
        """One call, with retries. Raises ModelCallError with a clear reason, FormatRefused when the
        server refuses ``response_format``, BudgetExceeded/TaskTimeout before a call that cannot fit."""
        litellm = _LITELLM.get()
        ref = self.ref_for(role)
        endpoint = endpoint_for(ref)
        prices = self.prices(ref)
        if tools and not endpoint.tools:
            self._once(f"tools:{ref}", f"{ref} does not accept tool calls; this task runs without tools")
        shrinks = 0
        while True:
            estimated = estimate_tokens(prompt)
            cap = max_tokens
            if ctx.budget is not None:
                cap = ctx.budget.admit(endpoint.estimate(estimated), max_tokens, prices)
            kwargs: dict[str, Any] = {
                "model": ref.litellm_model,
                "messages": prompt.messages(),
                "max_tokens": cap,
                "max_retries": 0,  # the OpenAI SDK's own retries would double ours
                "num_retries": 0,
            }
            if ref.api_base:
                kwargs["api_base"] = ref.api_base
            if ref.api_key:
                kwargs["api_key"] = ref.api_key
            if temperature is None:
                temperature = self.temperature(role, structured=False)
            if temperature is not None:
                kwargs["temperature"] = temperature
            send_tools = bool(tools) and endpoint.tools
            if send_tools:
                kwargs["tools"] = tools
            if response_format:
                kwargs["response_format"] = response_format
            started = time.monotonic()
            try:
                response = await self._send(litellm, ref, kwargs, ctx)
            except (ModelCallError, BudgetExceeded, TaskTimeout):
                raise
            except Exception as exc:
                if _is_timeout(exc) and float(kwargs.get("timeout", 0)) < self.settings.retry.call_timeout:
                    # The wait was cut short by the task's own time budget: the task ran out of
                    # time, the model is not "unavailable".
                    assert ctx.budget is not None
                    raise TaskTimeout(
                        f"time budget of {ctx.budget.timeout_seconds:g} s used up waiting for {ref}"
                    ) from exc
                if response_format and is_format_refusal(exc):
                    raise FormatRefused(str(response_format.get("type")), exc) from exc
                if send_tools and is_tools_refusal(exc):
                    endpoint.tools = False
                    self._once(f"tools:{ref}", f"{ref} refused tool calls; this task runs without tools")
                    continue
                if not is_overflow(exc):
                    raise self._failure(ref, exc, kwargs) from exc
                shrinks += 1
                if shrinks > MAX_SHRINKS or not prompt.shrink():
                    raise ModelCallError(
                        f"{ref}: the prompt is too large for the model even after shrinking it"
                    ) from exc
                self.notice(f"{ref}: context overflow, shrinking the prompt and retrying")
                continue
            return await self._account(ctx, role, phase, ref, endpoint, prices, response, started, estimated, kwargs)

    def _failure(self, ref: providers.ModelRef, exc: BaseException, kwargs: dict[str, Any]) -> ModelCallError:
        failure = describe(
            exc, model=ref.name, endpoint=ref.endpoint, key_env=ref.key_env, timeout=float(kwargs.get("timeout", 0))
        )
        attempts = int(kwargs.get("_attempts", 1))
        reason = failure.reason + (f" (after {attempts} attempts)" if attempts > 1 else "")
        if (ref.single_slot or ref.local) and "did not answer" in reason:
            reason += "; not re-sent, since the server is still working on it"
        log.info("model call failed: %s", reason)
        return ModelCallError(reason, unavailable=failure.unavailable)

    async def _send(self, litellm: Any, ref: providers.ModelRef, kwargs: dict[str, Any], ctx: CallContext) -> Any:
        """Send with the retry policy: only transient failures are retried, never past the task's
        time budget, and a timed-out call to a single-slot server is not re-sent (it is still running)."""
        retry = self.settings.retry
        budget = ctx.budget

        def transient(exc: BaseException) -> bool:
            if is_format_refusal(exc) or ("tools" in kwargs and is_tools_refusal(exc)):
                return False
            if (ref.single_slot or ref.local) and _is_timeout(exc):
                return False  # the server is still running the first call: don't pile another on
            return is_retryable(exc)

        def out_of_time(state: RetryCallState) -> bool:
            if state.attempt_number >= retry.max_attempts:
                return True
            # Waiting and then calling again must still fit in the task's time budget.
            return budget is not None and (state.upcoming_sleep or 0.0) + 1.0 >= budget.remaining_seconds

        attempts = AsyncRetrying(
            retry=retry_if_exception(transient),
            stop=out_of_time,
            wait=make_wait(retry),
            reraise=True,
            before_sleep=lambda state: self.notice(
                f"{ref}: {_outcome_name(state)}, retry {state.attempt_number} of {retry.max_attempts - 1}"
            ),
        )
        slot = slot_for(ref)
        async for attempt in attempts:
            with attempt:
                kwargs["_attempts"] = attempt.retry_state.attempt_number
                timeout = retry.call_timeout
                if budget is not None:
                    timeout = min(timeout, max(1.0, budget.remaining_seconds))
                kwargs["timeout"] = timeout
                call = {k: v for k, v in kwargs.items() if not k.startswith("_")}
                if slot is None:
                    return await litellm.acompletion(**call)
                async with slot:
                    return await litellm.acompletion(**call)
        raise AssertionError("unreachable")

    async def _account(
        self,
        ctx: CallContext,
        role: Role,
        phase: Phase,
        ref: providers.ModelRef,
        endpoint: Endpoint,
        prices: Prices,
        response: Any,
        started: float,
        estimated: int,
        kwargs: dict[str, Any],
    ) -> Completion:
        choice = response.choices[0]
        message = choice.message
        usage = getattr(response, "usage", None)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        if prompt_tokens <= 0:
            # No usage from the server: count locally, so token and cost budgets still hold.
            endpoint.reports_usage = False
            if endpoint.first_notice("usage"):
                self.notice(f"{ref}: the server reports no token usage; counting tokens locally")
            prompt_tokens, completion_tokens = _count_locally(kwargs, message, estimated)
        else:
            endpoint.calibrate(estimated, prompt_tokens)
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
        tool_calls = [
            {"id": c.id, "name": c.function.name, "arguments": c.function.arguments or "{}"}
            for c in (getattr(message, "tool_calls", None) or [])
        ]
        finish = getattr(choice, "finish_reason", None)
        return Completion(message.content, tool_calls, prompt_tokens, completion_tokens, cost, ref.name, finish)

    def initial_format(self, role: Role) -> str:
        """The structured-output mode the next call for ``role`` will try first."""
        ref = self.ref_for(role)
        endpoint = endpoint_for(ref)
        if endpoint.format_mode is not None:
            return endpoint.format_mode
        if ref.api_base:
            return "json_schema"  # negotiated: a refusal moves to json_object, then to the prompt alone
        litellm = _LITELLM.get()
        try:
            supported = bool(litellm.supports_response_schema(model=ref.litellm_model))
        except Exception:
            supported = False
        return "json_schema" if supported else "json_object"

    def _once(self, key: str, text: str) -> None:
        if key not in self._told:
            self._told.add(key)
            self.notice(text, "warn")

    def notice(self, text: str, level: str = "info") -> None:
        log.info(text)
        if self.on_notice is not None:
            self.on_notice(text, level)


def _is_timeout(exc: BaseException) -> bool:
    from litellm import exceptions

    return isinstance(exc, exceptions.Timeout)


def _outcome_name(state: RetryCallState) -> str:
    exc = state.outcome.exception() if state.outcome else None
    return type(exc).__name__ if exc else "error"


def _count_locally(kwargs: dict[str, Any], message: Any, estimated: int) -> tuple[int, int]:
    """Prompt and completion tokens by litellm's tokenizer for the model, else by our estimate."""
    litellm = _LITELLM.get()
    text = message.content or ""
    for call in getattr(message, "tool_calls", None) or []:
        text += call.function.arguments or ""
    try:
        prompt = int(litellm.token_counter(model=kwargs["model"], messages=kwargs["messages"]))
        completion = int(litellm.token_counter(model=kwargs["model"], text=text)) if text else 0
    except Exception:  # an unknown tokenizer must not fail the call that already succeeded
        prompt, completion = estimated, estimated_tokens(text)
    return max(prompt, estimated), completion
