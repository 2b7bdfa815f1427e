"""One blocking HTTP read for a platform's token probe (``PlatformSpec.probe``, run by ``openkoi doctor --live``
in a thread). The standard library only: doctor must not import a platform's SDK."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def fetch_json(url: str, headers: dict[str, str], method: str = "GET") -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body or {}); an HTTP error status is returned, not raised. Raises OSError when the
    server cannot be reached."""
    request = urllib.request.Request(url, headers=headers, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        body = {}
    return status, body if isinstance(body, dict) else {}


def secret(value: Any) -> str:
    """The text of a ``SecretStr`` setting ("" when unset)."""
    return str(value.get_secret_value()) if value is not None else ""
