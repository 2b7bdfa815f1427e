from __future__ import annotations

import base64

from mcp import types

from core.secrets import SECRETS
from integrations.mcp.results import render


def test_text_blocks_are_the_output_and_structured_content_beside_them_is_not_repeated() -> None:
    result = types.CallToolResult(
        content=[types.TextContent(type="text", text="3 commits"), types.TextContent(type="text", text="clean")],
        structured_content={"result": "3 commits"},
    )
    assert render(result) == "3 commits\nclean"


def test_structured_content_alone_is_json() -> None:
    result = types.CallToolResult(content=[], structured_content={"width": 3, "height": 4})
    assert render(result) == '{"height": 4, "width": 3}'


def test_other_content_is_described_in_one_line() -> None:
    data = base64.b64encode(b"12345678").decode()
    result = types.CallToolResult(
        content=[
            types.ImageContent(type="image", data=data, mime_type="image/png"),
            types.AudioContent(type="audio", data=data, mime_type="audio/wav"),
            types.ResourceLink(type="resource_link", uri="file:///srv/log.txt", name="log"),
            types.EmbeddedResource(
                type="resource",
                resource=types.BlobResourceContents(uri="file:///a.bin", blob=data, mime_type="application/zip"),
            ),
            types.EmbeddedResource(
                type="resource", resource=types.TextResourceContents(uri="file:///b.txt", text="inline text")
            ),
        ]
    )
    assert render(result).splitlines() == [
        "[image: image/png, 8 bytes]",
        "[audio: audio/wav, 8 bytes]",
        "[resource link: file:///srv/log.txt (log)]",
        "[resource: file:///a.bin, application/zip, 8 bytes]",
        "inline text",
    ]


def test_an_error_result_starts_with_error() -> None:
    failed = types.CallToolResult(content=[types.TextContent(type="text", text="no such branch")], is_error=True)
    assert render(failed) == "error: no such branch"
    assert render(types.CallToolResult(content=[], is_error=True)) == "error: the tool failed without saying why"


def test_registered_secrets_are_redacted() -> None:
    added = SECRETS.add(["hunter2-hunter2"])
    try:
        result = types.CallToolResult(content=[types.TextContent(type="text", text="token=hunter2-hunter2 ok")])
        assert render(result) == "token=[redacted] ok"
    finally:
        SECRETS.remove(added)
