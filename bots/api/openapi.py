"""The OpenAPI 3.1 document of the API, made from the route table and the pydantic models its handlers use.

Request models are described as they validate and answer models as they serialise (pydantic's two modes);
every error is a problem document (RFC 9457). A route's scope is named in its description and in
``x-openkoi-scope``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from bots.api.problems import PROBLEM_JSON, Problem
from bots.api.routes import EVENT_STREAM, Route

REF = "#/components/schemas/{model}"
VERSION = "1.0.0"


def document(routes: Sequence[Route], version: str = VERSION) -> dict[str, Any]:
    """The whole OpenAPI document for ``routes``."""
    keys, schemas = _schemas(routes)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.full_path, {})[route.method.lower()] = _operation(route, keys, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "openkoi API",
            "version": version,
            "description": "Tasks, their events, the gate's decisions, proposals, digests and the audit of an"
            " openkoi service. Authenticate with `Authorization: Bearer <token>`; errors are RFC 9457 problem"
            " documents.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "An API token."}},
        },
    }


Key = tuple[type[BaseModel], JsonSchemaMode]


def _schemas(routes: Iterable[Route]) -> tuple[dict[Key, dict[str, Any]], dict[str, Any]]:
    wanted: dict[Key, None] = {(Problem, "serialization"): None}
    for route in routes:
        if route.body is not None:
            wanted[(route.body, "validation")] = None
        if route.query is not None:
            wanted[(route.query, "validation")] = None
        for model in route.responses.values():
            if isinstance(model, type):
                wanted[(model, "serialization")] = None
    keys, top = models_json_schema(list(wanted), ref_template=REF)
    return {(model, mode): schema for (model, mode), schema in keys.items() if issubclass(model, BaseModel)}, dict(
        top.get("$defs", {})
    )


def _operation(route: Route, keys: dict[Key, dict[str, Any]], schemas: dict[str, Any]) -> dict[str, Any]:
    description = route.summary
    if route.scope is not None:
        description += f"\n\nNeeds a token with the `{route.scope}` scope (or `admin`)."
    op: dict[str, Any] = {
        "operationId": route.handler.__name__,
        "summary": route.summary,
        "description": description,
        "tags": [route.tag],
        "parameters": _parameters(route, keys, schemas),
        "responses": _responses(route, keys),
    }
    if route.scope is not None:
        op["security"] = [{"bearer": []}]
        op["x-openkoi-scope"] = route.scope
    else:
        op["security"] = []
    if route.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": keys[(route.body, "validation")]}},
        }
    return op


def _parameters(route: Route, keys: dict[Key, dict[str, Any]], schemas: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in route.path_params
    ]
    if route.query is not None:
        # Each query parameter is a property of the query model's schema (whose references point into
        # components, like every other schema here).
        schema = schemas[keys[(route.query, "validation")]["$ref"].rsplit("/", 1)[-1]]
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            param: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
            if "description" in prop:
                param["description"] = prop["description"]
            if name == "pending":  # a flag: `?pending` alone
                param["allowEmptyValue"] = True
            found.append(param)
    for name, text in route.headers.items():
        found.append(
            {"name": name, "in": "header", "required": False, "description": text, "schema": {"type": "string"}}
        )
    return found


def _responses(route: Route, keys: dict[Key, dict[str, Any]]) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for status, model in route.responses.items():
        answers[str(status)] = _content(status, model, keys)
    problem = {PROBLEM_JSON: {"schema": keys[(Problem, "serialization")]}}
    for status in route.error_statuses():
        answers[str(status)] = {"description": HTTPStatus(status).phrase, "content": problem}
        if status == 401:
            answers[str(status)]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        if status in (429, 503):
            answers[str(status)]["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    return answers


def _content(status: int, model: type[BaseModel] | str | None, keys: dict[Key, dict[str, Any]]) -> dict[str, Any]:
    description = HTTPStatus(status).phrase
    if model is None:
        return {"description": description}
    if model == EVENT_STREAM:
        return {
            "description": "Server-Sent Events: per event an `id` (for Last-Event-ID), an `event` (its type in"
            " snake case: task_started, deliberation_ready, confirmation_needed, evaluated, action_approval_needed,"
            " task_finished …) and `data` (the event's fields as one JSON object); comments are heartbeats. The"
            " stream ends after task_finished.",
            # No schema: a stream of events is not one document (OpenAPI 3.1 leaves the schema out).
            "content": {EVENT_STREAM: {}},
        }
    assert isinstance(model, type)
    return {"description": description, "content": {"application/json": {"schema": keys[(model, "serialization")]}}}
