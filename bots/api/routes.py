"""What a route of the API is: its method and path, the scope it needs, the models of its request and its
answers. One table of these (``bots.api.table``) is what the server mounts and what the OpenAPI document
describes, so the two cannot disagree.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web
from pydantic import BaseModel

from bots.api.settings import ApiScope
from bots.api.tokens import ApiToken

if TYPE_CHECKING:
    from bots.api.context import ApiContext

PREFIX = "/api/v1"
EVENT_STREAM = "text/event-stream"


@dataclass(frozen=True)
class Call:
    """One request as a handler sees it: the API's parts, the request, and who made it (None on an open route)."""

    api: ApiContext
    request: web.Request
    token: ApiToken | None

    @property
    def caller(self) -> ApiToken:
        assert self.token is not None, "an authenticated route"
        return self.token


Handler = Callable[[Call], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # under PREFIX, in aiohttp's syntax: /tasks/{id}
    handler: Handler
    summary: str
    scope: ApiScope | None  # None: no token needed
    tag: str
    # Answers by status: a model for a JSON body, None for none, EVENT_STREAM for a stream of events.
    responses: Mapping[int, type[BaseModel] | str | None] = field(default_factory=dict)
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()  # besides the ones every route of its kind may answer (``error_statuses``)
    headers: Mapping[str, str] = field(default_factory=dict)  # request headers it reads: name -> description

    @property
    def full_path(self) -> str:
        return PREFIX + self.path

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    def error_statuses(self) -> list[int]:
        """Every error status this route may answer, each a problem document."""
        found = set(self.errors)
        if self.scope is not None:
            found |= {401, 403, 429}
        if self.body is not None:
            found |= {400, 413, 415, 422}
        if self.query is not None or self.path_params:
            found.add(422 if self.query is not None else 404)
        if self.path_params:
            found.add(404)
        return sorted(found)
