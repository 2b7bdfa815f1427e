"""Reading a request and writing an answer: JSON bodies and query strings validated into pydantic models
(400 for what is not JSON, 413 for what is too large, 422 naming each invalid field), and JSON answers made
from models.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from bots.api.problems import ApiError, FieldError
from bots.chat.http_guard import MAX_BODY_BYTES
from core.secrets import SECRETS

M = TypeVar("M", bound=BaseModel)


def reply(
    model: BaseModel, status: int = 200, headers: dict[str, str] | None = None, *, scrub: bool = True
) -> web.Response:
    """``model`` as the JSON body of a ``status`` answer, the service's own secrets redacted (a task's
    text or result may quote one, as a chat message may); ``scrub=False`` for a body of ids alone."""
    body = (SECRETS.scrub(model) if scrub else model).model_dump_json()
    return web.Response(status=status, text=body, content_type="application/json", headers=headers)


def view_of(model: type[M], row: object, **computed: Any) -> M:
    """The API view ``model`` of a store row: every field the view names is the row's attribute of that name,
    except the ones ``computed`` here (links, nested views, renamed fields). One home for the field-by-field
    copy each view once spelled out; pydantic still validates the result as the constructor would."""
    copied = {name: getattr(row, name) for name in model.model_fields if name not in computed}
    return model.model_validate({**copied, **computed})


async def read_json(request: web.Request, model: type[M]) -> M:
    """The request's JSON body validated as ``model``; raises ApiError 400 / 413 / 415 / 422."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, f"the body is over {MAX_BODY_BYTES} bytes", kind="too-large") from None
    json_type = request.content_type in ("application/json", "application/octet-stream") or (
        request.content_type.startswith("application/") and request.content_type.endswith("+json")
    )
    if not json_type and raw:
        # No content type at all reads as octet-stream in aiohttp: a bare `curl -d` is accepted as JSON.
        raise ApiError(415, f"send the body as application/json, not {request.content_type}", kind="media-type")
    try:
        document = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(400, "the body is not UTF-8", kind="malformed") from None
    except RecursionError:
        raise ApiError(400, "the body is nested too deeply", kind="malformed") from None
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"the body is not JSON: {exc.msg} at character {exc.pos}", kind="malformed") from None
    if not isinstance(document, dict):
        raise ApiError(400, "the body must be a JSON object", kind="malformed")
    return validated(model, document, "body")


def read_query(request: web.Request, model: type[M]) -> M:
    """The query string validated as ``model`` (each parameter once); raises ApiError 422."""
    values: dict[str, Any] = {}
    for name in request.query:
        every = request.query.getall(name)
        if len(every) > 1:
            raise ApiError.invalid(name, "repeated", f"give {name} once")
        values[name] = every[0]
    return validated(model, values, "query")


def validated(model: type[M], data: dict[str, Any], where: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [_field_error(error, where) for error in exc.errors(include_url=False, include_input=False)]
        summary = "; ".join(f"{e.pointer or where}: {e.detail}" for e in errors)
        raise ApiError(422, summary, kind="invalid", errors=errors) from None


def _field_error(error: Any, where: str) -> FieldError:
    location = [str(part) for part in error["loc"]]
    message = str(error["msg"]).removeprefix("Value error, ")
    if where == "body":
        return FieldError(pointer="/" + "/".join(location) if location else "", detail=message)
    return FieldError(pointer=".".join(location), detail=message)
