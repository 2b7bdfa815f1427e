"""A tool call's result as the text the model and the thread see.

Text content as it is; structured content as JSON when no text block carries it (servers are asked to
send its JSON as text too, and SDK servers wrap a plain return value as ``{"result": …}`` beside the text); other content (images, audio, resources) described in one
line. An error result starts with ``error:``. Every registered secret is redacted.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from mcp import types

from core.secrets import SECRETS


def render(result: types.CallToolResult) -> str:
    """The text of a tool's result, redacted."""
    parts = [_block(block) for block in result.content]
    has_text = any(isinstance(block, types.TextContent) for block in result.content)
    if result.structured_content is not None and not has_text:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False, sort_keys=True, default=str))
    text = "\n".join(p for p in parts if p)
    if result.is_error:
        text = f"error: {text or 'the tool failed without saying why'}"
    return SECRETS.redact(text)


def _block(block: Any) -> str:
    if isinstance(block, types.TextContent):
        return block.text
    if isinstance(block, types.ImageContent):
        return f"[image: {block.mime_type}, {_size(block.data)}]"
    if isinstance(block, types.AudioContent):
        return f"[audio: {block.mime_type}, {_size(block.data)}]"
    if isinstance(block, types.ResourceLink):
        return f"[resource link: {block.uri}{f' ({block.name})' if block.name else ''}]"
    if isinstance(block, types.EmbeddedResource):
        resource = block.resource
        if isinstance(resource, types.TextResourceContents):
            return resource.text
        mime = resource.mime_type or "binary"
        return f"[resource: {resource.uri}, {mime}, {_size(resource.blob)}]"
    return f"[{getattr(block, 'type', type(block).__name__)} content]"


def _size(data: str) -> str:
    try:
        return f"{len(base64.b64decode(data, validate=False))} bytes"
    except (binascii.Error, ValueError):
        return f"{len(data)} base64 characters"
