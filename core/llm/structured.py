"""Structured replies: ask for a JSON schema, validate into a pydantic model, repair once.

The request format is negotiated per endpoint (``core.llm.endpoint``): ``json_schema`` where it is
accepted; otherwise ``json_object`` with the schema in the prompt and in ``response_format.schema``
(llama-cpp-python turns that into a grammar); otherwise the schema in the prompt alone. A refusal
moves down once and is remembered; it never costs a retry or a repair attempt.

A reply cut off at the output limit is asked again once with twice the room when the budget allows,
else it is invalid. A reply that does not parse, does not validate, fails ``check``, or copies the
prompt or the schema instead of answering (``core.llm.echo``) gets exactly one repair attempt, which
says what was wrong or what was copied; then StructuredOutputError. Nothing here guesses a value.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from core.errors import ModelCallError, StructuredOutputError
from core.llm import echo
from core.llm.endpoint import endpoint_for
from core.llm.gateway import CallContext, FormatRefused, ModelGateway, estimate_tokens
from core.models import Phase, Role
from core.prompt import Prompt
from core.text import clip

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)

REPAIRS = 1


@lru_cache(maxsize=64)
def _cached_schema(schema: type[BaseModel]) -> str:
    # Building a schema costs ~1-2 ms; the schema of a class never changes. Cached as text so
    # that callers who constrain it further get their own copy.
    return json.dumps(schema.model_json_schema())


def json_schema_of(schema: type[BaseModel]) -> dict[str, Any]:
    """A fresh copy of a model's JSON schema, safe to constrain for one call."""
    result: dict[str, Any] = json.loads(_cached_schema(schema))
    return result


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


def _loads(text: str) -> Any:
    """Parse JSON, accepting raw control characters (a newline) inside strings: grammar-constrained
    local models emit them, and they change no value. Raises ValueError for anything else."""
    try:
        return json.loads(text, strict=False)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the reply is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None


def problem_of(exc: Exception, limit: int = 400) -> str:
    """What was wrong with a reply, briefly: the first few validation errors by field."""
    if isinstance(exc, ValidationError):
        parts = []
        for error in exc.errors()[:3]:
            where = ".".join(str(p) for p in error["loc"]) or "reply"
            parts.append(f"{where}: {error['msg']}")
        more = exc.error_count() - 3
        text = "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")
    else:
        text = " ".join(str(exc).split())
    return clip(text, limit)


def format_request(mode: str, name: str, schema: dict[str, Any], prompt: Prompt, system: str) -> dict[str, Any] | None:
    """The ``response_format`` for ``mode`` (None for "prompt"); sets the prompt's system text."""
    if mode == "json_schema":
        prompt.system = system
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": False}}
    prompt.system = (
        f"{system}\n\nReply with one JSON object only, no prose, matching this JSON schema ({name}):\n"
        + json.dumps(schema, ensure_ascii=False)
    )
    if mode == "json_object":
        return {"type": "json_object", "schema": schema}
    return None


async def ask(
    gateway: ModelGateway,
    ctx: CallContext,
    role: Role,
    phase: Phase,
    prompt: Prompt,
    schema: type[T],
    *,
    json_schema: dict[str, Any] | None = None,
    name: str | None = None,
    check: Callable[[T], None] | None = None,
    max_tokens: int = 2048,
    echoes: Literal["reject", "keep"] = "reject",
) -> T:
    """Ask for ``schema`` (constrained further by ``json_schema`` when given); validate, run
    ``check`` (raises ValueError), look for echoes of the prompt or the schema, repair once.

    Raises StructuredOutputError when the repaired reply is still invalid or still echoes,
    ModelCallError when the call itself fails or the server refuses every structured mode. Never
    returns a guessed value. ``echoes="keep"``: a repaired reply that still echoes is returned, for a
    caller that judges each part itself (the Parliament marks such ballots invalid).
    """
    ref = gateway.ref_for(role)
    endpoint = endpoint_for(ref)
    name = name or schema.__name__
    body = json_schema if json_schema is not None else json_schema_of(schema)
    body["title"] = name
    system = prompt.system
    # What a reply must not copy: the instructions and example, the schema; it may quote the person's text.
    copyable = echo.sources(system, body, allowed=prompt.user_text())
    temperature = gateway.temperature(role, structured=True)
    room, widened, repairs = max_tokens, False, 0
    problem, copying = "", False
    while True:
        mode = gateway.initial_format(role)
        response_format = format_request(mode, name, body, prompt, system)
        try:
            completion = await gateway.complete(
                ctx, role, phase, prompt, response_format=response_format, max_tokens=room, temperature=temperature
            )
        except FormatRefused as refused:
            following = endpoint.downgrade_format(refused.mode)
            if following is None:
                raise ModelCallError(f"{ref.endpoint} refused every way of asking for JSON", unavailable=True) from None
            gateway.notice(f"{ref}: the server refused response_format {refused.mode}; using {following} from now on")
            continue
        if endpoint.format_mode is None:
            endpoint.format_mode = mode  # accepted: no need to ask litellm again in this process
        text = completion.content or ""
        if completion.truncated:
            projected = endpoint.estimate(estimate_tokens(prompt))
            if not widened and (ctx.budget is None or ctx.budget.remaining_tokens - projected >= 2 * room):
                widened, room = True, 2 * room
                gateway.notice(
                    f"{name}: the reply was cut off at {completion.completion_tokens} tokens; asking again with more room"
                )
                continue
            problem, copying = (
                f"the reply was cut off at the output limit ({completion.completion_tokens} tokens)",
                False,
            )
        else:
            try:
                value = schema.model_validate(_loads(extract_json(text)))
                if check is not None:
                    check(value)
                copies = echo.find(value, copyable)
                if not copies or (echoes == "keep" and repairs >= REPAIRS):
                    return value
                problem, copying = clip(echo.describe(copies), 400), True
            except (ValidationError, ValueError) as exc:
                problem, copying = problem_of(exc), False
        log.info("invalid %s reply (attempt %d): %s", name, repairs + 1, problem)
        if repairs >= REPAIRS:
            raise StructuredOutputError(name, problem)
        repairs += 1
        prompt.tail += [{"role": "assistant", "content": text[:4000]}, _repair_request(name, problem, copying)]
        what = "copied instead of answering" if copying else "did not match the schema"
        gateway.notice(f"{name}: the reply {what} ({problem}); asking once more")


def _repair_request(name: str, problem: str, copying: bool) -> dict[str, str]:
    """The one repair request: what was invalid, or what the reply copied from the prompt or the schema."""
    if copying:
        content = (
            f"Your reply copied text from the instructions, the example or the schema instead of answering: "
            f"{problem}\nThose are not answers. Reply again with only the JSON object for {name}, every text "
            "field written in your own words about this task."
        )
    else:
        content = (
            f"Your reply was not valid for the required JSON schema {name}: {problem}\n"
            "Reply again with only the corrected JSON object, complete and shorter if it was cut off."
        )
    return {"role": "user", "content": content}
