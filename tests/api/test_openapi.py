"""The OpenAPI document: a valid OpenAPI 3.1 document that describes every route the service mounts under
/api/v1 (and nothing it does not), and that the tests' client really checks answers against."""

from __future__ import annotations

import pytest
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.validation.response.exceptions import InvalidData
from openapi_spec_validator import validate

from tests.api.conftest import ApiService
from tests.api.harness import CI, Answer


async def test_the_document_is_valid_and_describes_every_mounted_route(api: ApiService) -> None:
    answer = await api.client.call("GET", "/api/v1/openapi.json")
    assert answer.status == 200, "served without a token"
    document = answer.json()
    validate(document)  # OpenAPI 3.1, with the JSON Schema dialect it implies
    assert document["openapi"] == "3.1.0"
    documented = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    assert api.svc.runner is not None
    mounted = {
        (route.resource.canonical, route.method)
        for route in api.svc.runner.app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/api/v1") and route.method != "HEAD"
    }
    assert mounted == documented
    assert ("/api/v1/tasks", "POST") in documented and ("/api/v1/tasks/{id}/events", "GET") in documented
    post = document["paths"]["/api/v1/tasks"]["post"]
    assert post["x-openkoi-scope"] == "tasks:write" and post["security"] == [{"bearer": []}]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/TaskRequest"}
    assert set(post["responses"]) >= {"202", "400", "401", "403", "413", "422", "429"}


async def test_the_client_rejects_an_answer_the_document_does_not_describe(api: ApiService) -> None:
    """The check every API test relies on can fail: a status the route does not list, a body that does not fit."""
    client = api.client.as_(CI)
    with pytest.raises(InvalidData):
        client.check("GET", "/api/v1/tasks", Answer(200, {}, b'{"tasks": "none"}', "application/json"))
    with pytest.raises(ResponseNotFound):
        client.check("GET", "/api/v1/tasks", Answer(418, {}, b"{}", "application/json"))
