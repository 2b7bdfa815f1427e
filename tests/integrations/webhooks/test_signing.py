"""What openkoi sends is signed exactly as the Standard Webhooks specification says: the reference implementation
(the ``standardwebhooks`` package) verifies it, refuses it when the body or the headers were changed, and verifies
each secret of a rotation alone; secrets that are not ``whsec_`` + base64 of 24 to 64 bytes are refused."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from integrations.webhooks.signing import decode_secret, generate_secret, signature, signed_headers

BODY = b'{"type":"task.done","timestamp":"2026-01-31T10:00:00.000Z","version":1,"data":{"task_id":"abc"}}'


def now() -> int:
    return int(datetime.now(UTC).timestamp())


def test_the_reference_implementation_verifies_what_openkoi_signs() -> None:
    secret = generate_secret()
    headers = signed_headers([decode_secret(secret)], "msg_0123abcd", now(), BODY)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(BODY, headers)["type"] == "task.done"


def test_the_signature_is_the_reference_implementations_own() -> None:
    secret, stamp = generate_secret(), now()
    ours = signature(decode_secret(secret), "msg_1", stamp, BODY)
    assert ours == Webhook(secret).sign("msg_1", datetime.fromtimestamp(stamp, UTC), BODY)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda body, headers: (body.replace(b"abc", b"abd"), headers), id="body"),
        pytest.param(lambda body, headers: (body + b" ", headers), id="a-trailing-space"),
        pytest.param(lambda body, headers: (body, {**headers, "webhook-id": "msg_other"}), id="webhook-id"),
        pytest.param(
            lambda body, headers: (body, {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) - 1)}),
            id="webhook-timestamp",
        ),
    ],
)
def test_a_tampered_webhook_is_refused_by_the_reference_implementation(change: object) -> None:
    secret = generate_secret()
    headers = signed_headers([decode_secret(secret)], "msg_0123abcd", now(), BODY)
    body, changed = change(BODY, headers)  # type: ignore[operator]
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, changed)


def test_during_a_rotation_each_secret_verifies_alone_and_a_stranger_does_not() -> None:
    new, old, stranger = generate_secret(), generate_secret(), generate_secret()
    headers = signed_headers([decode_secret(new), decode_secret(old)], "msg_rot", now(), BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(new).verify(BODY, headers) and Webhook(old).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(stranger).verify(BODY, headers)


def test_generated_secrets_are_whsec_and_32_random_bytes() -> None:
    first, second = generate_secret(), generate_secret()
    assert first.startswith("whsec_") and first != second
    assert len(decode_secret(first)) == 32


@pytest.mark.parametrize(
    ("secret", "says"),
    [
        ("sk_" + base64.b64encode(bytes(32)).decode(), "starts with whsec_"),
        ("whsec_not*base64!", "not valid base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "this one is 5"),
        ("whsec_" + base64.b64encode(bytes(65)).decode(), "this one is 65"),
    ],
)
def test_a_malformed_secret_is_refused_without_quoting_it(secret: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as raised:
        decode_secret(secret)
    assert secret.removeprefix("whsec_") not in str(raised.value)


def test_nothing_is_sent_unsigned_and_an_id_with_a_full_stop_is_refused() -> None:
    with pytest.raises(ValueError, match="unsigned"):
        signed_headers([], "msg_1", now(), BODY)
    with pytest.raises(ValueError, match="may not contain"):
        signed_headers([decode_secret(generate_secret())], "msg.1", now(), BODY)
