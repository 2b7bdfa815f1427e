"""RFC 9457 problem details: every error the API answers is an ``application/problem+json`` document.

A handler raises ``ApiError``; the API's middleware turns it (and aiohttp's own 404 / 405 / 413, and
anything unexpected, as a 500 without details) into a ``Problem``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

PROBLEM_JSON = "application/problem+json"
BASE = "urn:openkoi:problem:"  # a stable name for each kind (RFC 9457 §3.1.1), not a page to fetch


class FieldError(BaseModel):
    """One invalid field of a request: where (a JSON pointer into the body, or a parameter's name) and why."""

    model_config = ConfigDict(extra="forbid")

    pointer: str
    detail: str


class Problem(BaseModel):
    """An error, as RFC 9457 describes it."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field("about:blank", description="A URI naming the kind of problem.")
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] | None = Field(None, description="Each invalid field (422).")


class ApiError(Exception):
    """A problem to answer with ``status``; ``kind`` names it (the ``type`` URI's last part)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        errors: list[FieldError] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind
        self.errors = errors
        self.headers = dict(headers or {})

    @classmethod
    def invalid(cls, pointer: str, why: str, detail: str, *, kind: str = "invalid") -> ApiError:
        """A 422 naming one invalid field (a body pointer, a query parameter or a header) and ``why``."""
        return cls(422, detail, kind=kind, errors=[FieldError(pointer=pointer, detail=why)])

    def problem(self) -> Problem:
        return Problem(
            type=BASE + self.kind if self.kind else "about:blank",
            title=HTTPStatus(self.status).phrase,
            status=self.status,
            detail=self.detail,
            errors=self.errors,
        )

    def response(self) -> web.Response:
        return problem_response(self.problem(), self.headers)


def problem_response(problem: Problem, headers: Mapping[str, str] | None = None) -> web.Response:
    body = json.dumps(problem.model_dump(mode="json", exclude_none=True))
    return web.Response(status=problem.status, text=body, content_type=PROBLEM_JSON, headers=headers)


def plain(status: int, detail: str | None = None) -> Problem:
    """A problem with no kind of its own: its status says it all."""
    return Problem(title=HTTPStatus(status).phrase, status=status, detail=detail)
