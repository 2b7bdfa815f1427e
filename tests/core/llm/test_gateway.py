"""The model gateway through the real litellm HTTP path to the fake server."""

from __future__ import annotations

import time

import pytest

from core.budget import TaskBudget
from core.config import Settings
from core.errors import BudgetExceeded, ModelCallError, StructuredOutputError
from core.llm.gateway import CallContext, ModelGateway
from core.models import Phase, Role
from core.prompt import Prompt
from core.store import Store
from tests.core.llm.directive_call import ask_directive
from tests.fakes.model_server import FakeModelServer, Reply, json_reply


def gateway(settings: Settings, store: Store | None = None) -> ModelGateway:
    return ModelGateway(settings, store.usage if store else None)


async def test_retries_429_and_honours_retry_after(settings: Settings, model_env: FakeModelServer) -> None:
    model_env.script.queue("execute", Reply(status=429, headers={"Retry-After": "1"}))
    started = time.monotonic()
    completion = await gateway(settings).complete(
        CallContext(None, None), Role.EXECUTOR, Phase.EXECUTE, Prompt("s").add("", "hi")
    )
    elapsed = time.monotonic() - started
    assert completion.content == "The answer."
    assert len(model_env.requests) == 2
    # Backoff alone is ≤ 0.05 s in tests; waiting ≥ 1 s proves the header was honoured.
    assert elapsed >= 0.95


async def test_retries_5xx_but_not_4xx(settings: Settings, model_env: FakeModelServer) -> None:
    model_env.script.queue("execute", Reply(status=503), Reply(status=500))
    ok = await gateway(settings).complete(
        CallContext(None, None), Role.EXECUTOR, Phase.EXECUTE, Prompt("s").add("", "x")
    )
    assert ok.content == "The answer." and len(model_env.requests) == 3

    model_env.script.queue("execute", Reply(status=401, error_message="bad key"))
    with pytest.raises(ModelCallError, match="bad key"):
        await gateway(settings).complete(
            CallContext(None, None), Role.EXECUTOR, Phase.EXECUTE, Prompt("s").add("", "x")
        )
    assert len(model_env.requests) == 4  # no retry for a 401


async def test_gives_up_after_max_attempts(settings: Settings, model_env: FakeModelServer) -> None:
    model_env.script.queue("execute", *[Reply(status=500) for _ in range(settings.retry.max_attempts)])
    with pytest.raises(
        ModelCallError, match=r"model unavailable: .* failed with HTTP 500: scripted error \(after 5 attempts\)"
    ):
        await gateway(settings).complete(
            CallContext(None, None), Role.EXECUTOR, Phase.EXECUTE, Prompt("s").add("", "x")
        )
    assert len(model_env.requests) == settings.retry.max_attempts


async def test_a_timed_out_call_to_a_local_server_is_not_sent_again(
    settings: Settings, model_env: FakeModelServer
) -> None:
    # A local llama.cpp keeps working on a request the client gave up on: sending it again would
    # only queue a second copy behind the first.
    settings.retry.call_timeout = 0.3
    model_env.script.queue("execute", Reply(content="late", delay=1.0))
    with pytest.raises(ModelCallError, match=r"did not answer within 0.3 s .*not re-sent") as failed:
        await gateway(settings).complete(
            CallContext(None, None), Role.EXECUTOR, Phase.EXECUTE, Prompt("s").add("", "x")
        )
    assert failed.value.unavailable
    assert len(model_env.requests) == 1


async def test_context_overflow_shrinks_instead_of_failing(settings: Settings, model_env: FakeModelServer) -> None:
    overflow = Reply(
        status=400,
        error_code="context_length_exceeded",
        error_message="This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
    )
    model_env.script.queue("execute", overflow, overflow)
    big = "line of recalled context\n" * 2000
    prompt = Prompt("system").add("Task", "summarise").add("Recall", big, shrinkable=True)
    completion = await gateway(settings).complete(CallContext(None, None), Role.EXECUTOR, Phase.EXECUTE, prompt)
    assert completion.content == "The answer."
    sizes = [len(r["messages"][1]["content"]) for r in model_env.requests]
    assert sizes[0] > sizes[1] > sizes[2], sizes
    assert "omitted to fit the model's context" in model_env.requests[-1]["messages"][1]["content"]
    assert "summarise" in model_env.requests[-1]["messages"][1]["content"]  # the task itself is never cut


async def test_overflow_with_nothing_left_to_shrink_fails_clearly(
    settings: Settings, model_env: FakeModelServer
) -> None:
    model_env.script.queue(
        "execute",
        Reply(status=400, error_code="context_length_exceeded", error_message="maximum context length exceeded"),
    )
    with pytest.raises(ModelCallError, match="too large for the model even after shrinking"):
        await gateway(settings).complete(
            CallContext(None, None), Role.EXECUTOR, Phase.EXECUTE, Prompt("s").add("Task", "x")
        )


async def test_structured_uses_json_schema_and_repairs_once(settings: Settings, model_env: FakeModelServer) -> None:
    model_env.script.queue("Directive", Reply(content="Sure! Here is my answer: stance is direct"))
    directive = await ask_directive(gateway(settings))
    assert directive.stance.startswith("Direct")
    first, second = model_env.requests
    assert first["response_format"]["type"] == "json_schema"
    assert first["response_format"]["json_schema"]["name"] == "Directive"
    assert "properties" in first["response_format"]["json_schema"]["schema"]
    assert "not valid" in second["messages"][-1]["content"]


async def test_structured_gives_up_after_one_repair(settings: Settings, model_env: FakeModelServer) -> None:
    model_env.script.queue("Directive", json_reply({"stance": ""}), json_reply({"wrong": True}))
    with pytest.raises(StructuredOutputError, match="Directive"):
        await ask_directive(gateway(settings))
    assert len(model_env.requests) == 2


async def test_structured_accepts_fenced_json(settings: Settings, model_env: FakeModelServer) -> None:
    model_env.script.queue("Directive", Reply(content='```json\n{"stance": "Calm", "good_looks_like": ["a"]}\n```'))
    directive = await ask_directive(gateway(settings))
    assert directive.stance == "Calm" and len(model_env.requests) == 1


async def test_usage_and_cost_recorded_per_call(settings: Settings, store: Store, model_env: FakeModelServer) -> None:
    from core.config import Pricing

    settings.pricing["openai/fake"] = Pricing(input_per_mtok=1000.0, output_per_mtok=2000.0)
    model_env.script.queue("execute", Reply(content="ok", prompt_tokens=100, completion_tokens=50))
    await store.tasks.db.execute(
        "INSERT INTO sessions (id, kind, created_at, updated_at) VALUES ('s1', 'test', 'now', 'now')"
    )
    await store.tasks.db.execute(
        "INSERT INTO tasks (id, session_id, description, status, source, options_json, created_at, updated_at)"
        " VALUES ('t1', 's1', 'd', 'running', 'test', '{}', 'now', 'now')"
    )
    budget = TaskBudget(10_000, 5.0, 60)
    completion = await gateway(settings, store).complete(
        CallContext("t1", budget), Role.EXECUTOR, Phase.EXECUTE, Prompt("s").add("", "x")
    )
    assert completion.cost_usd == pytest.approx(100 * 0.001 + 50 * 0.002)
    rows = await store.usage.for_task("t1")
    [row] = rows
    assert (row.phase, row.model, row.calls, row.prompt_tokens, row.completion_tokens) == (
        "execute",
        "openai/fake",
        1,
        100,
        50,
    )
    assert row.cost_usd == pytest.approx(0.2)
    assert budget.spend.tokens == 150 and budget.spend.cost_usd == pytest.approx(0.2)


async def test_budget_checked_before_the_call(settings: Settings, model_env: FakeModelServer) -> None:
    budget = TaskBudget(token_budget=100, max_cost_usd=5.0, timeout_seconds=60)
    prompt = Prompt("s").add("", "word " * 400)  # ~700 estimated tokens: cannot fit
    with pytest.raises(BudgetExceeded, match="token budget"):
        await gateway(settings).complete(CallContext(None, budget), Role.EXECUTOR, Phase.EXECUTE, prompt)
    assert model_env.requests == []  # nothing was spent


async def test_output_is_capped_to_the_remaining_budget(settings: Settings, model_env: FakeModelServer) -> None:
    budget = TaskBudget(token_budget=1000, max_cost_usd=5.0, timeout_seconds=60)
    await gateway(settings).complete(
        CallContext(None, budget), Role.EXECUTOR, Phase.EXECUTE, Prompt("s").add("", "x"), max_tokens=4096
    )
    assert 64 <= model_env.requests[0]["max_tokens"] < 1000


def test_failure_text_keeps_the_providers_words_without_litellm_boilerplate() -> None:
    from core.llm.failures import provider_message

    raw = (
        "litellm.InternalServerError: AnthropicException - Cannot connect to host api.anthropic.com:443. "
        "Handle with `litellm.InternalServerError`."
    )
    assert provider_message(Exception(raw)) == "Cannot connect to host api.anthropic.com:443"
    wrapped = 'litellm.BadRequestError: OpenAIException - {"error": {"message": "bad thing", "type": "x"}}'
    assert provider_message(Exception(wrapped)) == "bad thing"
