"""Self-test of tests/fakes/slack_api.py: the real slack_sdk and slack_bolt work against it.

If these pass, a failing bot test points at the bot, not at the fake.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from tests.platforms.slack.fake_api import (
    BOT_USER_ID,
    CHANNEL_ID,
    FakeSlack,
    app_mention_event,
    block_action_body,
    block_action_payload,
    event_callback_body,
    sign,
    signed_headers,
    slash_command_body,
    slash_command_payload,
)

BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-1-test-token"
SECRET = "test-signing-secret"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(bot_token=BOT_TOKEN, app_token=APP_TOKEN) as server:
        yield server


def client_for(fake: FakeSlack, **kwargs: Any) -> AsyncWebClient:
    return AsyncWebClient(token=BOT_TOKEN, base_url=fake.api_url, **kwargs)


# ----------------------------------------------------------------------------- Web API


async def test_post_then_update_is_recorded(fake: FakeSlack) -> None:
    client = client_for(fake)
    first = await client.chat_postMessage(channel=CHANNEL_ID, text="thinking…")
    reply = await client.chat_postMessage(
        channel=CHANNEL_ID,
        thread_ts=first["ts"],
        text="fallback",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*step 1*"}}],
    )
    await client.chat_update(channel=CHANNEL_ID, ts=reply["ts"], text="done")

    assert first["ts"] == "1700000000.000100"
    assert reply["ts"] > first["ts"]
    assert reply["message"]["thread_ts"] == first["ts"]
    assert [c.method for c in fake.calls] == ["chat.postMessage", "chat.postMessage", "chat.update"]
    assert fake.calls[0].token == BOT_TOKEN

    updated = fake.message(reply["ts"])
    assert updated is not None
    assert updated.history == ["fallback", "done"]
    # A text-only update keeps the blocks, as Slack does.
    assert updated.blocks == [{"type": "section", "text": {"type": "mrkdwn", "text": "*step 1*"}}]
    assert fake.thread_texts(first["ts"]) == ["thinking…", "done"]


async def test_other_methods_and_errors(fake: FakeSlack) -> None:
    client = client_for(fake)
    assert (await client.auth_test())["user_id"] == BOT_USER_ID
    assert (await client.conversations_info(channel=CHANNEL_ID))["channel"]["id"] == CHANNEL_ID
    assert (await client.users_info(user="U0USER"))["user"]["id"] == "U0USER"

    posted = await client.chat_postMessage(channel=CHANNEL_ID, text="x")
    eph = await client.chat_postEphemeral(channel=CHANNEL_ID, user="U0USER", text="only you")
    assert fake.ephemerals[0].ephemeral_to == "U0USER" and eph["message_ts"]
    await client.chat_delete(channel=CHANNEL_ID, ts=posted["ts"])
    assert fake.messages == []

    with pytest.raises(SlackApiError) as unknown:
        await client.api_call("chat.nonexistent")
    assert unknown.value.response["error"] == "unknown_method"

    fake.fail_next("chat.postMessage", error="channel_not_found")
    with pytest.raises(SlackApiError) as failed:
        await client.chat_postMessage(channel=CHANNEL_ID, text="y")
    assert failed.value.response["error"] == "channel_not_found"

    with pytest.raises(SlackApiError) as bad_token:
        await AsyncWebClient(token="xoxb-wrong", base_url=fake.api_url).auth_test()
    assert bad_token.value.response["error"] == "invalid_auth"


async def test_rate_limit_retry_after_is_honoured(fake: FakeSlack) -> None:
    client = client_for(fake)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
    fake.fail_next("chat.postMessage", status=429, retry_after=1)

    result = await client.chat_postMessage(channel=CHANNEL_ID, text="after the limit")

    assert result["ok"]
    first, second = fake.calls_to("chat.postMessage")
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.95
    assert [m.text for m in fake.messages] == ["after the limit"]


async def test_rate_limit_without_retry_handler_surfaces(fake: FakeSlack) -> None:
    fake.fail_next("chat.postMessage")
    with pytest.raises(SlackApiError) as err:
        await client_for(fake).chat_postMessage(channel=CHANNEL_ID, text="z")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "1"


# ----------------------------------------------------------------------------- Bolt over HTTP


def build_app(fake: FakeSlack) -> AsyncApp:
    app = AsyncApp(client=client_for(fake), signing_secret=SECRET)

    @app.command("/think")
    async def think(ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient) -> None:
        await ack("on it")
        await client.chat_postMessage(channel=command["channel_id"], text=f"thinking about {command['text']}")

    @app.action("approve")
    async def approve(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await respond(text=f"approved {body['actions'][0]['value']}", replace_original=True)

    @app.event("app_mention")
    async def mention(event: dict[str, Any], client: AsyncWebClient) -> None:
        await client.chat_postMessage(channel=event["channel"], thread_ts=event["ts"], text="hi")

    return app


@pytest.fixture
async def bolt_url(fake: FakeSlack) -> AsyncIterator[str]:
    """Our own aiohttp app routing into Bolt, as the bot will do, on a second loopback port."""
    app = build_app(fake)

    async def slack_events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    web_app = web.Application()
    web_app.router.add_post("/slack/events", slack_events)
    runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
    finally:
        await runner.cleanup()


async def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, float]:
    started = time.monotonic()
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers) as resp:
        return resp.status, await resp.text(), time.monotonic() - started


async def test_bolt_slash_command_signed(fake: FakeSlack, bolt_url: str) -> None:
    body = slash_command_body("/think", text="tea", response_url=fake.response_url("cmd1"))
    status, text, elapsed = await post(bolt_url, body, signed_headers(body, SECRET))

    assert status == 200 and elapsed < 3.0
    assert text == "on it"
    (call,) = await fake.wait_for_calls("chat.postMessage")
    assert call.params["text"] == "thinking about tea"
    assert fake.calls_to("auth.test"), "Bolt verifies its token on the first request"


async def test_bolt_rejects_forged_signature(fake: FakeSlack, bolt_url: str) -> None:
    body = slash_command_body("/think", text="tea")
    headers = signed_headers(body, "not-the-secret")
    status, _, _ = await post(bolt_url, body, headers)
    assert status == 401

    stale = sign(body, SECRET, timestamp=int(time.time()) - 600)
    status, _, _ = await post(bolt_url, body, {**stale, "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 401

    await asyncio.sleep(0.1)
    assert fake.calls_to("chat.postMessage") == []


async def test_bolt_block_action_uses_response_url(fake: FakeSlack, bolt_url: str) -> None:
    body = block_action_body("approve", "plan-7", response_url=fake.response_url("act1"))
    status, _, _ = await post(bolt_url, body, signed_headers(body, SECRET))

    assert status == 200
    await fake.wait_until(lambda: bool(fake.responses_to("act1")))
    assert fake.responses_to("act1") == [{"text": "approved plan-7", "replace_original": True}]


def test_block_action_payload_names_the_presser() -> None:
    payload = block_action_payload("approve", "plan-7", "U0BOSS", user_name="boss", thread_ts="1700000000.000100")
    assert payload["user"] == {"id": "U0BOSS", "username": "boss", "name": "boss", "team_id": "T0FAKE"}
    assert payload["container"]["thread_ts"] == payload["message"]["thread_ts"] == "1700000000.000100"


async def test_bolt_app_mention_event(fake: FakeSlack, bolt_url: str) -> None:
    event = app_mention_event(f"<@{BOT_USER_ID}> hello", ts="1699999999.000001")
    body = event_callback_body(event, event_id="Ev001")
    status, _, _ = await post(bolt_url, body, signed_headers(body, SECRET, json_body=True))

    assert status == 200
    (call,) = await fake.wait_for_calls("chat.postMessage")
    assert call.params["thread_ts"] == "1699999999.000001"
    assert fake.thread_texts("1699999999.000001") == ["hi"]


# ----------------------------------------------------------------------------- Socket Mode


async def test_socket_mode_client_acks(fake: FakeSlack) -> None:
    client = SocketModeClient(app_token=APP_TOKEN, web_client=AsyncWebClient(base_url=fake.api_url))
    seen: list[SocketModeRequest] = []

    async def listener(client: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
        seen.append(req)
        await client.send_socket_mode_response(
            SocketModeResponse(envelope_id=req.envelope_id, payload={"text": "ack'd"})
        )

    client.socket_mode_request_listeners.append(listener)
    try:
        # slack_sdk leaves these lifecycle methods unannotated.
        await client.connect()  # type: ignore[no-untyped-call]
        payload = slash_command_payload("/think", text="over the socket")
        ack = await fake.push_socket_envelope("slash_commands", payload)
    finally:
        await client.close()  # type: ignore[no-untyped-call]

    assert ack.payload == {"text": "ack'd"}
    assert ack.latency < 3.0
    assert fake.acks == [ack]
    assert seen[0].type == "slash_commands" and seen[0].payload["text"] == "over the socket"
    assert fake.calls_to("apps.connections.open")[0].token == APP_TOKEN


async def test_bolt_socket_mode_handler(fake: FakeSlack) -> None:
    handler = AsyncSocketModeHandler(build_app(fake), app_token=APP_TOKEN)
    try:
        await handler.connect_async()  # type: ignore[no-untyped-call]
        ack = await fake.push_socket_envelope("slash_commands", slash_command_payload("/think", text="ws"))
        (call,) = await fake.wait_for_calls("chat.postMessage")
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]

    assert ack.payload == {"text": "on it"}
    assert call.params["text"] == "thinking about ws"
    assert json.loads(json.dumps(fake.envelopes[0]))["accepts_response_payload"] is True
