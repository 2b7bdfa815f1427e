"""The Slack adapter end to end: the real slack-bolt / slack-sdk against FakeSlack, the whole service
in-process (aiohttp on a free port, SQLite, worker pool) and the fake model reached through litellm.

Bolt acknowledges before the work is done, so tests assert on what FakeSlack recorded (polling
with ``wait_until``), not only on HTTP responses.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from bots.chat import commands
from bots.chat.platform import ACTION_CHOICES, Button, Outgoing, Pressed, Reply
from bots.config import ServiceSettings
from bots.service import Service
from bots.slack import blocks
from bots.slack.inbound import mention_text, plain_text, reply_mrkdwn
from bots.slack.settings import SlackSettings
from core.config import Settings, load_settings
from core.models import TaskStatus
from tests.chat_service import feedback_figures, running_service, service_settings, wait_until
from tests.fakes import scripts
from tests.fakes.model_server import FakeModelServer
from tests.platforms.slack.fake_api import (
    BOT_USER_ID,
    CHANNEL_ID,
    USER_ID,
    FakeSlack,
    SlackMessage,
    app_mention_event,
    block_action_body,
    event_callback_body,
    sign,
    signed_headers,
    slash_command_body,
    slash_command_payload,
)
from tests.support import guardian_blocks_next, status_of, until_idle, wait_status

BOT_TOKEN = "xoxb-test"
APP_TOKEN = "xapp-1-test"
SECRET = "test-signing-secret"
APPROVER = "UAPPROVER"
AGENCY_NAMES = ("Guardian", "Economist", "Empath", "Scholar", "Strategist")


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(bot_token=BOT_TOKEN, app_token=APP_TOKEN) as fake:
        yield fake


def slack_service(
    fake: FakeSlack, *, approvers: tuple[str, ...] = (), socket: bool = False, self_approval: bool = False
) -> ServiceSettings:
    section: dict[str, Any] = {
        "bot_token": BOT_TOKEN,
        "api_url": fake.api_url,
        "edit_interval": 0.05,
        "access": {"approvers": list(approvers), "self_approval": self_approval},
    }
    if socket:
        section["app_token"] = APP_TOKEN  # and no signing secret: Socket Mode
    else:
        section["signing_secret"] = SECRET
    return service_settings(slack=section)


# ----------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Delivery:
    status: int
    body: str
    elapsed: float


async def deliver(svc: Service, body: bytes, headers: dict[str, str]) -> Delivery:
    """POST what Slack would send to the service's /slack/events; time the acknowledgement."""
    started = time.monotonic()
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"http://127.0.0.1:{svc.port}/slack/events", data=body, headers=headers) as resp,
    ):
        return Delivery(resp.status, await resp.text(), time.monotonic() - started)


async def slash(
    svc: Service, fake: FakeSlack, text: str, *, trigger_id: str | None = None, user_id: str = USER_ID
) -> Delivery:
    body = slash_command_body(
        text=text, trigger_id=trigger_id, user_id=user_id, response_url=fake.response_url(trigger_id or "cmd")
    )
    return await deliver(svc, body, signed_headers(body, SECRET))


async def press(
    svc: Service, message: SlackMessage, action_id: str, *, user_id: str = USER_ID, user_name: str = "alice"
) -> Delivery:
    """Press one of ``message``'s buttons, as Slack reports it."""
    value = next(e["value"] for b in message.blocks or [] if b["type"] == "actions" for e in b["elements"])
    body = block_action_body(
        action_id, value, user_id, message.channel, message.ts, thread_ts=message.thread_ts, user_name=user_name
    )
    return await deliver(svc, body, signed_headers(body, SECRET))


async def task_for(svc: Service, key: str) -> str:
    """The task a delivery created (waits: Bolt may acknowledge before the ingress is done)."""
    found: list[str] = []

    async def created() -> bool:
        task_id = await svc.store.inbound.task_for("slack", key)
        if task_id:
            found.append(task_id)
        return bool(task_id)

    await wait_until(created, within=5)
    return found[0]


async def parent_of(svc: Service, task_id: str) -> str:
    """The ts of the task's parent message (= its thread), once posted."""
    found: list[str] = []

    async def opened() -> bool:
        conversation = await svc.store.conversations.get(task_id)
        if conversation is not None and conversation.parent_message_id:
            found.append(conversation.parent_message_id)
        return bool(found)

    await wait_until(opened, within=5)
    return found[0]


async def task_count(svc: Service) -> int:
    return sum((await svc.store.tasks.counts()).values())


def replies(fake: FakeSlack, parent: str) -> list[SlackMessage]:
    return [m for m in fake.thread(parent) if m.ts != parent]


def sections(message: SlackMessage) -> list[str]:
    return [b["text"]["text"] for b in message.blocks or [] if b["type"] == "section"]


def action_ids(message: SlackMessage) -> list[str]:
    return [e["action_id"] for b in message.blocks or [] if b["type"] == "actions" for e in b["elements"]]


def with_buttons(fake: FakeSlack, parent: str) -> list[SlackMessage]:
    return [m for m in replies(fake, parent) if action_ids(m)]


def has_text(fake: FakeSlack, parent: str, needle: str) -> bool:
    return any(needle in (m.text or "") for m in replies(fake, parent))


async def blocked_task(svc: Service, fake: FakeSlack, model: FakeModelServer, trigger: str) -> tuple[str, str]:
    """Start a task the Guardian blocks; return (task id, parent ts) once its buttons are posted."""
    guardian_blocks_next(model, "it drops the production table")
    assert (await slash(svc, fake, "drop the old tables", trigger_id=trigger)).status == 200
    task_id = await task_for(svc, trigger)
    parent = await parent_of(svc, task_id)
    await wait_until(lambda: bool(with_buttons(fake, parent)))
    await wait_status(svc, task_id, TaskStatus.AWAITING_CONFIRMATION)
    return task_id, parent


# ----------------------------------------------------------------------------- tests


async def test_think_runs_a_task_in_a_thread(settings: Settings, slack: FakeSlack) -> None:
    async with running_service(settings, slack_service(slack)) as svc:
        res = await slash(svc, slack, "write a haiku about tea", trigger_id="trig-1")

        assert res.status == 200
        # Slack's deadline is 3 s; the ingress's local work takes milliseconds, so leave a margin.
        assert res.elapsed < 2.5
        task_id = await task_for(svc, "trig-1")
        assert task_id[:8] in res.body and "On it" in res.body
        parent = await parent_of(svc, task_id)
        await wait_until(lambda: has_text(slack, parent, "*Done*"))
        parent_message = slack.message(parent)
        assert parent_message is not None
        await wait_until(lambda: "✅ done" in (parent_message.text or ""))

        thread = replies(slack, parent)
        texts = [m.text or "" for m in thread]
        assert texts[0].startswith("*Sovereign*")
        (verdict,) = [t for t in texts if t.startswith("*Parliament*")]
        assert "approved" in verdict
        for agency in AGENCY_NAMES:
            assert re.search(rf"\*{agency}\* APPROVE", verdict), agency
        assert any(re.search(r"\*Iteration 1\* · score \*0\.90\*", t) for t in texts)
        assert "The answer." in texts
        assert "*Done*" in texts[-1]
        # Everything after the parent is in its thread, each message also as a mrkdwn section.
        assert [m.ts for m in slack.messages if m.thread_ts is None] == [parent]
        assert all(m.thread_ts == parent and sections(m) == [m.text] for m in thread)
        assert parent_message.edited and "write a haiku about tea" in (parent_message.text or "")
        assert sections(parent_message) == [parent_message.text], "Slack shows the blocks: they must change too"
        # The only buttons are 👍/👎 under the last message.
        assert [m.ts for m in slack.messages if action_ids(m)] == [thread[-1].ts]
        assert action_ids(thread[-1]) == [blocks.FEEDBACK_UP_ACTION, blocks.FEEDBACK_DOWN_ACTION]

        task = await svc.store.tasks.get(task_id)
        assert (task.source, task.status) == ("slack", TaskStatus.DONE)
        assert task.requester == "alice (slack:U0USER)"
        conversation = await svc.store.conversations.get(task_id)
        assert conversation is not None and conversation.channel_id == CHANNEL_ID
        assert conversation.origin == {"response_url": slack.response_url("trig-1")}
        # The token was proven once at start; Bolt did not ask again on the request path.
        assert len(slack.calls_to("auth.test")) == 1
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{svc.port}/readyz") as r:
            assert (await r.json())["platforms"] == {"slack": True}


async def test_guardian_block_is_decided_by_an_approver_only(
    settings: Settings, slack: FakeSlack, fake_model: FakeModelServer
) -> None:
    async with running_service(settings, slack_service(slack, approvers=(APPROVER,))) as svc:
        task_id, parent = await blocked_task(svc, slack, fake_model, "trig-block")
        (confirmation,) = with_buttons(slack, parent)
        pending = await svc.store.confirmations.pending_for_task(task_id)
        assert pending is not None
        assert "it drops the production table" in (confirmation.text or "")
        assert action_ids(confirmation) == [blocks.APPROVE_ACTION, blocks.DENY_ACTION]
        buttons = [e for b in confirmation.blocks or [] if b["type"] == "actions" for e in b["elements"]]
        assert [b["value"] for b in buttons] == [pending.id, pending.id]
        assert buttons[0]["style"] == "danger" and "style" not in buttons[1]

        # The requester may not override her own task (four eyes): refused, privately, in the thread.
        assert (await press(svc, confirmation, blocks.APPROVE_ACTION)).status == 200
        await wait_until(lambda: bool(slack.ephemerals))
        (refusal,) = slack.ephemerals
        assert refusal.ephemeral_to == USER_ID and refusal.thread_ts == parent
        assert "Four eyes" in (refusal.text or "")
        await until_idle(svc)
        assert await status_of(svc, task_id) is TaskStatus.AWAITING_CONFIRMATION
        assert action_ids(confirmation) and not confirmation.edited

        assert (await press(svc, confirmation, blocks.APPROVE_ACTION, user_id=APPROVER, user_name="boss")).status == 200
        await wait_status(svc, task_id, TaskStatus.DONE)
        await wait_until(lambda: has_text(slack, parent, "*Done*"))
        assert action_ids(confirmation) == []
        assert "*Overridden* by boss (slack:UAPPROVER)" in (confirmation.text or "")
        assert has_text(slack, parent, "The answer.")
        assert len(slack.ephemerals) == 1, "an accepted decision is announced by the edit, not privately"


async def test_a_press_is_acknowledged_once_its_decision_is_saved(
    settings: Settings, slack: FakeSlack, fake_model: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slack never delivers a press again: a 200 before the decision is saved could lose it unseen."""
    async with running_service(settings, slack_service(slack, approvers=(APPROVER,))) as svc:
        task_id, parent = await blocked_task(svc, slack, fake_model, "trig-press-save")
        (confirmation,) = with_buttons(slack, parent)
        decide = svc.desk.decide

        async def slow_press(actor: Any, confirmation_id: str, approve: bool) -> Reply:
            await asyncio.sleep(0.3)  # a busy disk
            return await decide(actor, confirmation_id, approve)

        monkeypatch.setattr(svc.desk, "decide", slow_press)
        answer = await press(svc, confirmation, blocks.DENY_ACTION, user_id=APPROVER, user_name="boss")

        assert answer.status == 200 and answer.elapsed >= 0.3
        row = await svc.store.confirmations.pending_for_task(task_id)
        assert row is None, "acknowledged while the decision was still unsaved"
        await wait_status(svc, task_id, TaskStatus.CANCELLED)


async def test_feedback_buttons_count_one_changeable_vote_per_person(
    settings: Settings, slack: FakeSlack, fake_model: FakeModelServer
) -> None:
    fake_model.script.queue("Learnings", scripts.learnings("Tea haiku need a season word."))
    async with running_service(settings, slack_service(slack)) as svc:
        # --skill in chat: an unknown name is answered at once and starts nothing.
        refused = await slash(svc, slack, "write a haiku --skill haiku-mastr", trigger_id="trig-bad-skill")
        assert "Not started: there is no task skill named" in refused.body and await task_count(svc) == 0

        await slash(svc, slack, "write a haiku about tea --skill self-iterate", trigger_id="trig-fb")
        task_id = await task_for(svc, "trig-fb")
        parent = await parent_of(svc, task_id)
        await wait_until(lambda: has_text(slack, parent, "*Done*"))
        await wait_status(svc, task_id, TaskStatus.DONE)
        assert [(u.skill, u.forced) for u in await svc.store.skill_uses.for_task(task_id)] == [("self-iterate", True)]
        done = replies(slack, parent)[-1]
        assert action_ids(done) == [blocks.FEEDBACK_UP_ACTION, blocks.FEEDBACK_DOWN_ACTION]
        values = {e["value"] for b in done.blocks or [] if b["type"] == "actions" for e in b["elements"]}
        assert values == {await svc.store.feedback.request_for(task_id)} and task_id not in values  # opaque

        async def vote(action: str, user_id: str, user_name: str, answers: int) -> str:
            assert (await press(svc, done, action, user_id=user_id, user_name=user_name)).status == 200
            await wait_until(lambda: len(slack.ephemerals) == answers)
            answer = slack.ephemerals[-1]
            assert answer.ephemeral_to == user_id and answer.thread_ts == parent  # only the presser sees it
            return answer.text or ""

        assert f"👍 recorded for task {task_id[:8]} (now 👍 1 · 👎 0)" in await vote(
            blocks.FEEDBACK_UP_ACTION, USER_ID, "alice", 1
        )
        figures = await feedback_figures(svc.store, task_id, "self-iterate")
        assert (figures.votes, figures.event, figures.approval, figures.confidences) == (
            {f"slack:{USER_ID}": 1}, (1, 0), 1.0, [0.85]
        )  # fmt: skip
        await vote(blocks.FEEDBACK_UP_ACTION, "U0BOB", "bob", 2)  # any member may vote
        changed = await vote(blocks.FEEDBACK_DOWN_ACTION, USER_ID, "alice", 3)
        assert "👎 recorded" in changed and "changed from 👍 (now 👍 1 · 👎 1)" in changed
        again = await vote(blocks.FEEDBACK_DOWN_ACTION, USER_ID, "alice", 4)
        assert "You already voted 👎" in again
        figures = await feedback_figures(svc.store, task_id, "self-iterate")
        assert (figures.votes, figures.event, figures.approval, figures.confidences) == (
            {f"slack:{USER_ID}": -1, "slack:U0BOB": 1}, (1, 1), 0.5, [0.8]
        )  # fmt: skip
        assert action_ids(done) == [blocks.FEEDBACK_UP_ACTION, blocks.FEEDBACK_DOWN_ACTION], "the buttons stay"


async def test_cancel_button_cancels_the_task(
    settings: Settings, slack: FakeSlack, fake_model: FakeModelServer
) -> None:
    async with running_service(settings, slack_service(slack)) as svc:
        task_id, parent = await blocked_task(svc, slack, fake_model, "trig-cancel")
        (confirmation,) = with_buttons(slack, parent)

        # No approvers configured: the person who asked decides.
        assert (await press(svc, confirmation, blocks.DENY_ACTION)).status == 200
        await wait_status(svc, task_id, TaskStatus.CANCELLED)
        await wait_until(lambda: not action_ids(confirmation))
        assert "*Cancelled* by alice (slack:U0USER)" in (confirmation.text or "")
        parent_message = slack.message(parent)
        assert parent_message is not None
        await wait_until(lambda: "cancelled" in (parent_message.text or ""))
        assert "execute" not in fake_model.kinds()
        assert slack.ephemerals == []
        # A cancelled task has no result to rate: its last message carries no 👍/👎.
        await wait_until(lambda: has_text(slack, parent, "*Cancelled*: override denied by alice"))
        assert all(blocks.FEEDBACK_UP_ACTION not in action_ids(m) for m in replies(slack, parent))


async def test_unanswered_confirmation_expires(
    model_env: FakeModelServer, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENKOI_PARLIAMENT__CONFIRMATION_TTL_MINUTES", "0.005")  # 0.3 s
    settings = load_settings()
    async with running_service(settings, slack_service(slack)) as svc:
        task_id, parent = await blocked_task(svc, slack, model_env, "trig-expire")
        (confirmation,) = with_buttons(slack, parent)

        await wait_status(svc, task_id, TaskStatus.CANCELLED, within=5)
        await wait_until(lambda: "*Expired*" in (confirmation.text or ""), within=5)
        assert action_ids(confirmation) == []
        confirmation_row = await svc.store.confirmations.latest_for_task(task_id)
        assert confirmation_row is not None and confirmation_row.status == "expired"


async def test_pending_confirmation_survives_a_restart(
    settings: Settings, slack: FakeSlack, fake_model: FakeModelServer
) -> None:
    service = slack_service(slack, self_approval=True)  # a solo set-up: alice decides on her own task
    async with running_service(settings, service) as svc:
        task_id, parent = await blocked_task(svc, slack, fake_model, "trig-restart")
    (confirmation,) = with_buttons(slack, parent)

    async with running_service(settings, service) as svc:
        assert await status_of(svc, task_id) is TaskStatus.AWAITING_CONFIRMATION
        assert (await press(svc, confirmation, blocks.APPROVE_ACTION)).status == 200
        await wait_status(svc, task_id, TaskStatus.DONE)
        await wait_until(lambda: has_text(slack, parent, "*Done*"))

        assert has_text(slack, parent, "The answer.")
        assert "*Overridden* by alice" in (confirmation.text or "") and action_ids(confirmation) == []
        assert [m.ts for m in slack.messages if m.thread_ts is None] == [parent], "continued in the same thread"
        assert fake_model.kinds().count("ParliamentReply") == 1, "an override does not deliberate again"


async def test_forged_or_stale_requests_are_rejected(settings: Settings, slack: FakeSlack) -> None:
    async with running_service(settings, slack_service(slack)) as svc:
        command = slash_command_body(text="delete everything", trigger_id="trig-forged")
        assert (await deliver(svc, command, signed_headers(command, "not-the-secret"))).status == 401
        stale = {**sign(command, SECRET, timestamp=int(time.time()) - 600)}
        stale["Content-Type"] = "application/x-www-form-urlencoded"
        assert (await deliver(svc, command, stale)).status == 401
        mention = event_callback_body(app_mention_event(f"<@{BOT_USER_ID}> delete everything"), event_id="EvForged")
        assert (await deliver(svc, mention, signed_headers(mention, "nope", json_body=True))).status == 401
        action = block_action_body(blocks.APPROVE_ACTION, "0123456789abcdef")
        assert (await deliver(svc, action, signed_headers(action, "nope"))).status == 401
        unsigned = slash_command_body(text="delete everything")
        assert (await deliver(svc, unsigned, {"Content-Type": "application/x-www-form-urlencoded"})).status == 401

        # Control: the same route answers a correctly signed request (Slack's Request URL check).
        challenge = json.dumps({"type": "url_verification", "challenge": "c-123", "token": "t"}).encode()
        verified = await deliver(svc, challenge, signed_headers(challenge, SECRET, json_body=True))
        assert (verified.status, json.loads(verified.body)) == (200, {"challenge": "c-123"})

        await until_idle(svc)
        assert await task_count(svc) == 0
        assert await svc.store.inbound.task_for("slack", "trig-forged") is None
        assert [c.method for c in slack.calls] == ["auth.test"], "nothing was posted"


async def test_redeliveries_make_no_second_task_or_reply(settings: Settings, slack: FakeSlack) -> None:
    async with running_service(settings, slack_service(slack)) as svc:
        mention_ts = "1699999999.000100"
        event = app_mention_event(f"<@{BOT_USER_ID}> summarize the design doc", ts=mention_ts)
        body = event_callback_body(event, event_id="EvDup1")
        first = await deliver(svc, body, signed_headers(body, SECRET, json_body=True))
        retry = await deliver(svc, body, signed_headers(body, SECRET, json_body=True, retry_num=1))
        assert (first.status, retry.status) == (200, 200)

        task_id = await task_for(svc, "EvDup1")
        await wait_status(svc, task_id, TaskStatus.DONE)
        task = await svc.store.tasks.get(task_id)
        assert task.description == "summarize the design doc"
        assert task.requester == "u0user (slack:U0USER)", "the name comes from users.info"
        answers = [m for m in slack.messages if m.thread_ts == mention_ts]
        assert len(answers) == 1 and task_id[:8] in (answers[0].text or "")

        command = slash_command_body(text="plan the offsite", trigger_id="trig-dup")
        headers = signed_headers(command, SECRET)
        first = await deliver(svc, command, headers)
        again = await deliver(svc, command, signed_headers(command, SECRET))
        assert (first.status, again.status) == (200, 200)
        second_task = await task_for(svc, "trig-dup")
        assert second_task[:8] in first.body
        assert again.body == "", "a redelivery is acknowledged silently"
        await wait_status(svc, second_task, TaskStatus.DONE)
        assert await task_count(svc) == 2
        assert len([m for m in slack.messages if m.thread_ts == mention_ts]) == 1


async def test_long_output_is_split_with_balanced_fences(
    settings: Settings, slack: FakeSlack, fake_model: FakeModelServer
) -> None:
    prose = "\n\n".join(f"Paragraph {i}: " + "the quick brown fox jumps over the lazy dog. " * 12 for i in range(7))
    code = "\n".join(f"value_{i:03d} = compute({i}) * factor  # step {i} of the pipeline" for i in range(90))
    output = f"{prose}\n\n```python\n{code}\n```\n\nThat is all."
    assert len(output) > 9000
    scripts.install_defaults(fake_model, output=output)
    async with running_service(settings, slack_service(slack)) as svc:
        assert (await slash(svc, slack, "write the pipeline", trigger_id="trig-long")).status == 200
        task_id = await task_for(svc, "trig-long")
        parent = await parent_of(svc, task_id)
        await wait_until(lambda: has_text(slack, parent, "*Done*"))

        thread = replies(slack, parent)
        start = next(i for i, m in enumerate(thread) if (m.text or "").startswith("*Iteration 1*")) + 1
        results = thread[start:-1]
        assert len(results) >= 3
        for m in results:
            assert all(len(text) <= 3000 for text in sections(m))
            assert len(m.text or "") <= 3000
            assert (m.text or "").count("```") % 2 == 0, m.text
        joined = "\n".join(m.text or "" for m in results)
        for needle in (
            "Paragraph 0:",
            "Paragraph 6:",
            "value_000 = compute(0)",
            "value_089 = compute(89)",
            "That is all.",
        ):
            assert needle in joined


async def test_rate_limited_post_waits_without_stalling_commands(settings: Settings, slack: FakeSlack) -> None:
    async with running_service(settings, slack_service(slack)) as svc:
        slack.fail_next("chat.postMessage", status=429, retry_after=1)
        assert (await slash(svc, slack, "draft the release notes", trigger_id="trig-429")).status == 200
        await slack.wait_for_calls("chat.postMessage", 1)

        help_reply = await slash(svc, slack, "help")
        assert help_reply.status == 200 and "/think status" in help_reply.body
        assert help_reply.elapsed < 0.8, "commands are answered while a post waits out Retry-After"
        assert len(slack.calls_to("chat.postMessage")) == 1, "the retry is still waiting"

        await slack.wait_for_calls("chat.postMessage", 2, within=5)
        first, second = slack.calls_to("chat.postMessage")[:2]
        assert (first.status, second.status) == (429, 200)
        assert second.at - first.at >= 0.95
        task_id = await task_for(svc, "trig-429")
        parent = await parent_of(svc, task_id)
        assert parent == second.response["ts"]
        await wait_until(lambda: has_text(slack, parent, "*Done*"))


async def test_command_text_may_say_payload(settings: Settings, slack: FakeSlack) -> None:
    """Bolt reads any form body containing the word "payload" as an interaction and finds nothing in
    it: the command must still be read as the command it is (HTTP commands are read by the gate)."""
    async with running_service(settings, slack_service(slack)) as svc:
        res = await slash(svc, slack, "design the webhook payload format", trigger_id="trig-payload")

        assert res.status == 200, res.body
        task_id = await task_for(svc, "trig-payload")
        assert task_id[:8] in res.body
        assert res.body == reply_mrkdwn(f"🧠 On it — task {task_id[:8]}. Follow along in the thread.")
        assert (await svc.store.tasks.get(task_id)).description == "design the webhook payload format"


async def test_http_and_socket_mode_acknowledge_a_command_alike(settings: Settings, slack: FakeSlack) -> None:
    """Over HTTP a command is answered by the adapter without Bolt's dispatch (the hot path of a
    burst); in Socket Mode through Bolt's listener. Both give the same acknowledgement."""
    async with running_service(settings, slack_service(slack)) as svc:
        over_http = await slash(svc, slack, "help", trigger_id="trig-http")
        redelivered = await slash(svc, slack, "help", trigger_id="trig-http")
        unknown = await slash(svc, slack, "--simulte x", trigger_id="trig-http-typo")
    async with running_service(settings, slack_service(slack, socket=True)) as svc:
        over_socket = await slack.push_socket_envelope("slash_commands", slash_command_payload(text="help"))
        typo = await slack.push_socket_envelope("slash_commands", slash_command_payload(text="--simulte x"))

    assert over_http.status == 200 and over_socket.payload is not None
    assert over_socket.payload == {"text": over_http.body} and "/think status [id]" in over_http.body
    assert typo.payload == {"text": unknown.body} and "did you mean --simulate?" in unknown.body
    # A redelivery of an answered command is acknowledged with nothing: it was answered the first time.
    assert (redelivered.status, redelivered.body) == (200, "")


async def test_socket_mode_command(settings: Settings, slack: FakeSlack) -> None:
    service = slack_service(slack, socket=True)
    assert service.section(SlackSettings).resolved_mode == "socket"
    async with running_service(settings, service) as svc:
        assert svc.adapters["slack"].connected
        payload = slash_command_payload(text="sketch a logo", trigger_id="trig-socket")
        ack = await slack.push_socket_envelope("slash_commands", payload)

        assert ack.latency < 3.0
        task_id = await task_for(svc, "trig-socket")
        assert ack.payload is not None and task_id[:8] in ack.payload["text"]
        parent = await parent_of(svc, task_id)
        await wait_until(lambda: any((m.text or "").startswith("*Sovereign*") for m in replies(slack, parent)))
        assert (await svc.store.tasks.get(task_id)).source == "slack"
        # No HTTP endpoint in Socket Mode: nothing unsigned can be let in that way.
        body = slash_command_body(text="x")
        assert (await deliver(svc, body, signed_headers(body, SECRET))).status == 404
        await wait_status(svc, task_id, TaskStatus.DONE)


async def test_help_and_bad_flags_answer_privately(settings: Settings, slack: FakeSlack) -> None:
    async with running_service(settings, slack_service(slack)) as svc:
        help_reply = await slash(svc, slack, "help")
        assert help_reply.status == 200
        assert help_reply.body.startswith("```") and "/think status [id]" in help_reply.body
        assert "&lt;task&gt;" in help_reply.body, "mrkdwn-escaped, or Slack would swallow <task>"

        typo = await slash(svc, slack, "--simulte rename the repo")
        assert typo.status == 200
        assert "unknown option --simulte" in typo.body and "did you mean --simulate?" in typo.body

        mention_ts = "1699999999.000300"
        event = app_mention_event(f"<@{BOT_USER_ID}> help", ts=mention_ts)
        body = event_callback_body(event)
        assert (await deliver(svc, body, signed_headers(body, SECRET, json_body=True))).status == 200
        await wait_until(lambda: bool(slack.ephemerals))
        (private,) = slack.ephemerals
        assert private.ephemeral_to == USER_ID and private.thread_ts == mention_ts
        assert "/think status [id]" in (private.text or "")

        # Another bot mentioning us, and plain channel messages: acknowledged (or Slack would
        # redeliver them) and ignored.
        from_bot = {**app_mention_event(f"<@{BOT_USER_ID}> write a poem"), "bot_id": "B0OTHER"}
        chatter = {
            "type": "message",
            "user": USER_ID,
            "text": "lunch?",
            "ts": "1699999999.000400",
            "channel": CHANNEL_ID,
        }
        for event in (from_bot, chatter):
            body = event_callback_body(event)
            assert (await deliver(svc, body, signed_headers(body, SECRET, json_body=True))).status == 200

        await until_idle(svc)
        assert await task_count(svc) == 0
        assert slack.calls_to("chat.postMessage") == []
        assert len(slack.ephemerals) == 1


async def test_a_slow_answer_is_acknowledged_then_given(
    settings: Settings, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`/think status` reads the store after saving the command; a read slower than the ingress's
    deadline is acknowledged with "the answer follows", and the answer comes through response_url."""
    monkeypatch.setattr("bots.chat.ingress.IN_FLIGHT_GRACE", 0.05)
    async with running_service(settings, slack_service(slack)) as svc:
        svc.ingress.save_within = 0.1
        active = svc.store.conversations.for_platform

        async def slow(platform: str, statuses: Any) -> Any:
            await asyncio.sleep(0.5)  # e.g. the disk is busy
            return await active(platform, statuses)

        monkeypatch.setattr(svc.store.conversations, "for_platform", slow)
        res = await slash(svc, slack, "status", trigger_id="trig-slow")
        assert res.status == 200 and res.elapsed < 0.45
        # Nothing is claimed before the answer is known: not "got it", only that it is coming.
        assert "taking longer than usual" in res.body and "Got it" not in res.body
        await wait_until(lambda: bool(slack.responses_to("trig-slow")))
        (answer,) = slack.responses_to("trig-slow")
        assert answer["text"] == "No tasks are running." and answer["response_type"] == "ephemeral"


# ----------------------------------------------------------------------------- pure helpers


def test_blocks_for_buttons_and_oversized_text() -> None:
    message = Outgoing("✋ *Blocked*", (Button("Override", "approve", "c1"), Button("Cancel", "deny", "c1")))
    built = blocks.message_blocks(message)
    assert built[0] == {"type": "section", "text": {"type": "mrkdwn", "text": "✋ *Blocked*"}}
    assert [e["action_id"] for e in built[1]["elements"]] == ["openkoi_approve", "openkoi_deny"]
    assert blocks.button(Button("x" * 100, "deny", "c1"))["text"]["text"] == "x" * 74 + "…"

    long = "\n".join(f"line {i:04d} " + "y" * 60 for i in range(100))  # ~7000 characters
    chunks = blocks.sections(long)
    assert len(chunks) == 3 and all(len(c["text"]["text"]) <= 3000 for c in chunks)
    assert "\n".join(c["text"]["text"] for c in chunks) == long
    assert blocks.message_blocks(Outgoing("  ")) == [{"type": "section", "text": {"type": "mrkdwn", "text": "…"}}]


def test_action_buttons_round_trip_and_foreign_action_ids_are_not_ours() -> None:
    approval = "0123456789abcdef"
    ids = [blocks.ACT_ONCE_ACTION, blocks.ACT_ALWAYS_ACTION, blocks.ACT_DENY_ACTION]
    assert ids == ["openkoi_act_once", "openkoi_act_always", "openkoi_act_deny"]
    for action, action_id in zip(ACTION_CHOICES, ids, strict=True):
        encoded = blocks.CODEC.encode(Button("Allow", action, approval))
        assert encoded == (action_id, approval) and blocks.CODEC.decode(encoded) == Pressed(action, approval)
        assert blocks.ANY_ACTION_PATTERN.fullmatch(action_id)
    card = blocks.message_blocks(Outgoing("card", tuple(Button(a, a, approval) for a in ACTION_CHOICES)))
    assert card[1]["block_id"] == blocks.ACTION_APPROVAL_BLOCK_ID
    assert [(e["action_id"], e["value"]) for e in card[1]["elements"]] == [(i, approval) for i in ids]
    for foreign in ("openkoi_act_maybe", "act_once", "openkoi_act_once_x", ""):
        assert blocks.CODEC.decode((foreign, approval)) is None, foreign
        assert blocks.ANY_ACTION_PATTERN.fullmatch(foreign) is None, foreign


def test_inbound_text_is_what_the_person_typed() -> None:
    assert plain_text("fix <https://x.io/a?b=1&amp;c=2|x.io/a> &amp; tell <@U1|bob> in <#C9|ops>") == (
        "fix https://x.io/a?b=1&c=2 & tell @bob in #ops"
    )
    assert plain_text("a &lt; b &amp;&amp; <!here>") == "a < b && @here"
    assert mention_text(f"<@{BOT_USER_ID}> /think --simulate  send it", BOT_USER_ID) == "--simulate  send it"
    assert mention_text(f"hey <@{BOT_USER_ID}|openkoi> help", BOT_USER_ID) == "hey help"
    assert reply_mrkdwn("use <id> & go") == "use &lt;id&gt; &amp; go"
    assert reply_mrkdwn(commands.HELP_TEXT).startswith("```/think &lt;task&gt;")
