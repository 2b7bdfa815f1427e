"""The page's static files (``bots/web/static``), read once and served by openkoi itself: no CDN, no build step.

Each is served under a name that never changes, with a validator (its hash as the ETag) so that a browser asks
again cheaply after a restart that changed it.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from importlib import resources

TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


@functools.cache
def assets() -> dict[str, Asset]:
    """Every static file by name."""
    found: dict[str, Asset] = {}
    for item in resources.files("bots.web").joinpath("static").iterdir():
        suffix = "." + item.name.rpartition(".")[2]
        if item.is_file() and suffix in TYPES:
            body = item.read_bytes()
            found[item.name] = Asset(body, TYPES[suffix], '"' + hashlib.sha256(body).hexdigest()[:16] + '"')
    return found
