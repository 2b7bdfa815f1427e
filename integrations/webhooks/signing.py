"""Signing as the Standard Webhooks specification says (symmetric, ``v1``).

A secret is ``whsec_`` followed by the base64 of 24 to 64 random bytes. What is signed is
``{webhook-id}.{webhook-timestamp}.{body}`` with HMAC-SHA256 under the decoded bytes; the signature is sent as
``v1,<base64>``. During a rotation an endpoint has several secrets, and the ``webhook-signature`` header lists
one signature per secret, separated by spaces: a receiver holding either secret verifies it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence

PREFIX = "whsec_"
# The specification's bounds on a symmetric key: at least 192 bits, at most 512.
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64
GENERATED_KEY_BYTES = 32


def decode_secret(text: str) -> bytes:
    """The key bytes of a ``whsec_…`` secret; ValueError saying what is wrong (never quoting the secret)."""
    if not text.startswith(PREFIX):
        raise ValueError(
            f"a webhook secret starts with {PREFIX} (then base64 of {MIN_KEY_BYTES} to {MAX_KEY_BYTES} random bytes)"
        )
    try:
        key = base64.b64decode(text[len(PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"a webhook secret is {PREFIX} followed by base64; this one is not valid base64") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise ValueError(
            f"a webhook secret's key is {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes; this one is {len(key)}"
            f" (make one with: python -c 'import base64,os; print(\"{PREFIX}\" + base64.b64encode(os.urandom(32)).decode())')"
        )
    return key


def generate_secret() -> str:
    """A new random ``whsec_…`` secret."""
    return PREFIX + base64.b64encode(secrets.token_bytes(GENERATED_KEY_BYTES)).decode("ascii")


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "{message_id}.{timestamp}.{body}">``."""
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signed_headers(keys: Sequence[bytes], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt: one signature per key, space-separated."""
    if not keys:
        raise ValueError("a webhook is never sent unsigned: the endpoint has no secret")
    if "." in message_id:  # the id is part of what is signed, delimited by full stops
        raise ValueError("a webhook id may not contain '.'")
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(key, message_id, timestamp, body) for key in keys),
    }
