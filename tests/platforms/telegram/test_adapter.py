"""The Telegram adapter end to end: the whole service in-process, the real python-telegram-bot against
the fake Bot API, and the engine against the fake model server.

Every assertion is on what the fake Bot API recorded (messages as Telegram stores them after entity
parsing, edits, callback answers) or on the store, never on the adapter's internals.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from telegram.error import RetryAfter

from bots.chat.feedback import feedback_buttons
from bots.chat.platform import ACTION_CHOICES, Button, Outgoing, Pressed
from bots.chat.platform import Reply as ChatReply
from bots.config import ServiceSettings
from bots.service import Service
from bots.telegram.callback import callback_data, pressed
from bots.telegram.wire import html_to_plain, retry_seconds
from core.config import Settings, load_settings
from core.models import TaskStatus
from tests.chat_service import feedback_figures, running_service, service_settings, wait_until
from tests.fakes import scripts
from tests.fakes.model_server import FakeModelServer, Reply
from tests.platforms.telegram.fake_api import FakeTelegram, StoredMessage, parse_html, unexpected_updates
from tests.support import guardian_blocks_next, status_of, until_idle, wait_status

GROUP = -100777
ALICE = 42
BOB = 77
SECRET = "s3cret-Token_1"
WEBHOOK_URL = "https://bot.example.com/telegram/webhook"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@asynccontextmanager
async def serving(settings: Settings, service: ServiceSettings) -> AsyncIterator[Service]:
    """``running_service`` that stops only once the worker pool is idle.

    Works around a race in ``WorkerPool._work``: a stop that lands in the instant a job finishes is
    swallowed, and ``Service.stop`` then waits forever on that worker (reported with a fix).
    """
    async with running_service(settings, service) as svc:
        try:
            yield svc
        finally:  # also after a failed assertion: a hung stop would hide it
            with contextlib.suppress(AssertionError):
                await wait_until(lambda: svc.pool.busy == 0)
            await asyncio.sleep(0.05)  # the worker resumes one loop turn after its job is done


def tg_settings(fake: FakeTelegram, **telegram: Any) -> ServiceSettings:
    section = {"bot_token": fake.token, "api_url": fake.base_url, "edit_interval": 0.05, **telegram}
    return service_settings(telegram=section)


def webhook_settings(fake: FakeTelegram) -> ServiceSettings:
    return tg_settings(fake, mode="webhook", webhook_secret=SECRET, webhook_url=WEBHOOK_URL)


def say(fake: FakeTelegram, text: str, user: int = ALICE) -> tuple[int, int]:
    """Queue a message from ``user`` in the group; return (update_id, message_id)."""
    update_id = fake.push_message(GROUP, user, text, first_name="Alice" if user == ALICE else "Bob")
    return update_id, [m for m in fake.messages(GROUP) if not m.from_bot][-1].message_id


def replies(fake: FakeTelegram, message_id: int) -> list[StoredMessage]:
    return [m for m in fake.replies_to(GROUP, message_id) if m.from_bot]


def ack_of(fake: FakeTelegram, command_id: int) -> list[StoredMessage]:
    """The bot's immediate answers to a command: plain text, unlike the task's parent message."""
    return [m for m in replies(fake, command_id) if m.parse_mode is None]


def parent_of(fake: FakeTelegram, command_id: int) -> StoredMessage:
    parents = [m for m in replies(fake, command_id) if m.parse_mode == "HTML"]
    assert len(parents) == 1, [m.text for m in replies(fake, command_id)]
    return parents[0]


async def task_for(svc: Service, update_id: int) -> str:
    found: list[str] = []

    async def claimed() -> bool:
        task_id = await svc.store.inbound.task_for("telegram", str(update_id))
        if task_id:
            found.append(task_id)
        return bool(task_id)

    await wait_until(claimed)
    return found[0]


async def finished(svc: Service, task_id: str, status: TaskStatus) -> None:
    """Wait until the task ended with ``status`` and its thread shows it: the status is stored just
    before the engine announces the end, so the last messages are posted a moment later."""
    await wait_status(svc, task_id, status)

    async def done_posted() -> bool:
        return await svc.store.conversations.posted(task_id, "done") is not None

    await wait_until(done_posted)
    await svc.publisher.flush(within=5)


async def task_count(svc: Service) -> int:
    return sum((await svc.store.tasks.counts()).values())


@dataclass(frozen=True)
class Sent:
    """A bot message as it was first seen (the fake's StoredMessage changes with every edit)."""

    message_id: int
    reply_to: int | None
    text: str
    buttons: tuple[dict[str, Any], ...]


async def press(fake: FakeTelegram, user: int, message: Sent, label: str) -> dict[str, Any]:
    """Press a button of ``message`` (even one since removed: an old client may still show it) and
    return the callback answer once the bot gave one."""
    data = next(b["callback_data"] for b in message.buttons if b["text"] == label)
    name = "Alice" if user == ALICE else "Bob"
    query_id = fake.callback_id(fake.push_callback_query(GROUP, user, message.message_id, data, first_name=name))
    await wait_until(lambda: fake.callback_answers[query_id] is not None)
    answer = fake.callback_answers[query_id]
    assert answer is not None
    return answer


async def blocked_task(svc: Service, fake: FakeTelegram, fake_model: FakeModelServer) -> tuple[str, Sent]:
    """Start a task the Guardian blocks; return it and its confirmation message as first posted
    (read from the store and the recorded call, so a quick expiry cannot hide it)."""
    guardian_blocks_next(fake_model, "drops the production database")
    update_id, _ = say(fake, "/think drop the prod database")
    task_id = await task_for(svc, update_id)
    posted: list[int] = []

    async def confirmation_posted() -> bool:
        row = await svc.store.confirmations.latest_for_task(task_id)
        slot = await svc.store.conversations.posted(task_id, f"confirmation:{row.id}") if row else None
        if slot is not None:
            posted.append(int(slot.message_id))
        return slot is not None

    await wait_until(confirmation_posted)
    [call] = [c for c in fake.calls_to("sendMessage") if c.get("reply_markup")]
    buttons = tuple(b for row in call["reply_markup"]["inline_keyboard"] for b in row)
    sent = Sent(posted[0], fake.message(GROUP, posted[0]).reply_to, parse_html(call["text"])[0], buttons)
    return task_id, sent


# ---------------------------------------------------------------- the happy path


async def test_polling_think_runs_a_task_in_a_reply_thread(settings: Settings, fake: FakeTelegram) -> None:
    async with serving(settings, tg_settings(fake)) as svc:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{svc.port}/readyz") as ready:
            assert (await ready.json())["platforms"] == {"telegram": True}
        update_id, command_id = say(fake, "/think   write a  haiku\nabout tests")
        task_id = await task_for(svc, update_id)
        await finished(svc, task_id, TaskStatus.DONE)

        task = await svc.store.tasks.get(task_id)
        assert task.source == "telegram" and task.requester == f"Alice (telegram:{ALICE})"
        assert task.description == "write a  haiku\nabout tests"  # the text after /think, spacing kept
        await wait_until(lambda: bool(ack_of(fake, command_id)))
        [ack] = ack_of(fake, command_id)
        assert task_id[:8] in ack.text and ack.parse_mode is None

        parent = parent_of(fake, command_id)
        assert parent.parse_mode == "HTML" and task_id[:8] in parent.text
        assert parent.history, "the parent's status was never edited"
        assert "done" in parent.text.splitlines()[-1]

        thread = replies(fake, parent.message_id)
        texts = [m.text for m in thread]
        joined = "\n".join(texts)
        assert texts[0].startswith("Sovereign")
        verdict = next(t for t in texts if t.startswith("Parliament"))
        assert all(a in verdict for a in ("Guardian", "Economist", "Empath", "Scholar", "Strategist"))
        assert "Iteration 1 · score" in joined
        assert "The answer." in joined
        assert texts[-1].startswith("✅ Done") and "iteration" in texts[-1]
        assert all(m.parse_mode == "HTML" for m in thread)
        assert thread[0].entities and thread[-1].entities  # bold really rendered: no plain-text fallback
        sends = [c for c in fake.calls_to("sendMessage") if c.get("parse_mode") == "HTML"]
        assert sends and all(c["link_preview_options"] == {"is_disabled": True} for c in sends)
        conversation = await svc.store.conversations.get(task_id)
        assert conversation is not None and conversation.channel_id == str(GROUP)
        assert conversation.thread_id == str(parent.message_id)

        # Addressed by name works; addressed to another bot is not ours.
        _, other_bot_id = say(fake, "/think@other_bot ignore me")
        named_update, named_id = say(fake, "/think@openkoi_bot summarise the standup")
        named_task = await task_for(svc, named_update)
        await wait_until(lambda: bool(ack_of(fake, named_id)))
        assert (await svc.store.tasks.get(named_task)).description == "summarise the standup"
        await finished(svc, named_task, TaskStatus.DONE)
        assert await task_count(svc) == 2 and replies(fake, other_bot_id) == []


async def test_help_and_unknown_flags_answer_without_a_task(settings: Settings, fake: FakeTelegram) -> None:
    async with serving(settings, tg_settings(fake)) as svc:
        _, help_id = say(fake, "/think help")
        _, typo_id = say(fake, "/think --simulte deploy the app")
        _, bare_id = say(fake, "/think@openkoi_bot")
        await wait_until(lambda: all(ack_of(fake, m) for m in (help_id, typo_id, bare_id)))
        [help_reply], [typo], [bare] = ack_of(fake, help_id), ack_of(fake, typo_id), ack_of(fake, bare_id)
        assert "/think <task>" in help_reply.text and "/think cancel <id>" in help_reply.text
        assert "did you mean --simulate" in typo.text
        assert "/think <task>" in bare.text
        assert await task_count(svc) == 0


# ---------------------------------------------------------------- confirmations


async def test_guardian_block_is_decided_only_by_an_approver(
    settings: Settings, fake: FakeTelegram, fake_model: FakeModelServer
) -> None:
    access = {"approvers": [str(BOB)]}
    async with serving(settings, tg_settings(fake, access=access)) as svc:
        task_id, confirmation = await blocked_task(svc, fake, fake_model)
        await wait_status(svc, task_id, TaskStatus.AWAITING_CONFIRMATION)
        assert "drops the production database" in confirmation.text
        assert [b["text"] for b in confirmation.buttons] == ["Override", "Cancel"]
        assert all(len(b["callback_data"].encode()) <= 64 for b in confirmation.buttons)
        assert all(task_id not in b["callback_data"] for b in confirmation.buttons)  # an opaque id, not the task

        refused = await press(fake, ALICE, confirmation, "Override")  # four eyes: not on her own task
        assert refused["show_alert"] is True and "[telegram.access]" in refused["text"]
        assert await status_of(svc, task_id) is TaskStatus.AWAITING_CONFIRMATION
        assert fake.message(GROUP, confirmation.message_id).buttons, "a refusal must leave the buttons"

        approved = await press(fake, BOB, confirmation, "Override")
        assert not approved.get("show_alert") and "approved by Bob" in approved["text"]
        await finished(svc, task_id, TaskStatus.DONE)
        decided = fake.message(GROUP, confirmation.message_id)
        assert "Overridden by Bob" in decided.text and decided.buttons == [] and decided.reply_markup is None
        assert "The answer." in "\n".join(m.text for m in replies(fake, confirmation.reply_to or 0))

        late = await press(fake, BOB, confirmation, "Cancel")  # an old keyboard still on someone's screen
        assert late["show_alert"] is True and "already approved" in late["text"]


async def test_feedback_buttons_count_one_changeable_vote_per_person(
    settings: Settings, fake: FakeTelegram, fake_model: FakeModelServer
) -> None:
    fake_model.script.queue("Learnings", scripts.learnings("Label issues by component first."))
    async with serving(settings, tg_settings(fake)) as svc:
        update_id, _ = say(fake, "/think label the issues --skill self-iterate")
        task_id = await task_for(svc, update_id)
        await finished(svc, task_id, TaskStatus.DONE)
        posted = await svc.store.conversations.posted(task_id, "done")
        assert posted is not None
        message = fake.message(GROUP, int(posted.message_id))
        done = Sent(message.message_id, message.reply_to, message.text, tuple(message.buttons))
        assert "Done" in done.text and [b["text"] for b in done.buttons] == ["👍", "👎"]
        assert all(len(b["callback_data"].encode()) <= 64 for b in done.buttons)
        assert all(task_id not in b["callback_data"] for b in done.buttons)  # an opaque id, not the task

        first = await press(fake, ALICE, done, "👍")
        assert not first.get("show_alert") and f"👍 recorded for task {task_id[:8]}" in first["text"]
        figures = await feedback_figures(svc.store, task_id, "self-iterate")
        assert (figures.votes, figures.event, figures.approval, figures.confidences) == (
            {f"telegram:{ALICE}": 1}, (1, 0), 1.0, [0.85]
        )  # fmt: skip
        await press(fake, BOB, done, "👍")  # any member may vote
        changed = await press(fake, ALICE, done, "👎")
        assert "changed from 👍 (now 👍 1 · 👎 1)" in changed["text"]
        again = await press(fake, ALICE, done, "👎")
        assert "You already voted 👎" in again["text"]
        figures = await feedback_figures(svc.store, task_id, "self-iterate")
        assert (figures.votes, figures.event, figures.approval, figures.confidences) == (
            {f"telegram:{ALICE}": -1, f"telegram:{BOB}": 1}, (1, 1), 0.5, [0.8]
        )  # fmt: skip
        assert [b["text"] for b in fake.message(GROUP, done.message_id).buttons] == ["👍", "👎"], "the buttons stay"

        stale = await press(
            fake, ALICE, Sent(1, None, "", ({"text": "👍", "callback_data": "okf:u:ffffffffffffffff"},)), "👍"
        )
        assert stale["show_alert"] is True and stale["text"] == "This button is no longer valid."


async def test_cancel_button_cancels_and_removes_the_keyboard(
    settings: Settings, fake: FakeTelegram, fake_model: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serving(settings, tg_settings(fake)) as svc:
        task_id, confirmation = await blocked_task(svc, fake, fake_model)
        claims: list[tuple[str, bool]] = []
        claim = svc.store.inbound.claim

        async def spy(platform: str, key: str) -> bool:
            taken = await claim(platform, key)
            claims.append((key, taken))
            return taken

        monkeypatch.setattr(svc.store.inbound, "claim", spy)
        data = next(b["callback_data"] for b in confirmation.buttons if b["text"] == "Cancel")
        update = fake.callback_payload(GROUP, ALICE, confirmation.message_id, data, first_name="Alice")
        fake.push_raw(update)  # no approvers configured: the requester may still cancel her own task
        query_id = fake.callback_id(update["update_id"])
        await wait_until(lambda: fake.callback_answers[query_id] is not None)
        answer = fake.callback_answers[query_id]
        assert answer is not None and not answer.get("show_alert") and "Cancelled by Alice" in answer["text"]
        await finished(svc, task_id, TaskStatus.CANCELLED)
        decided = fake.message(GROUP, confirmation.message_id)
        assert "Cancelled by Alice" in decided.text and decided.reply_markup is None
        assert "execute" not in fake_model.kinds()

        fake.push_raw(update)  # Telegram redelivers the same press: recognised, and not answered twice
        key = str(update["update_id"])
        await wait_until(lambda: [taken for k, taken in claims if k == key] == [True, False])
        await until_idle(svc)
        assert len(fake.calls_to("answerCallbackQuery")) == 1


async def test_an_expired_confirmation_cancels_the_task(
    model_env: FakeModelServer, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENKOI_PARLIAMENT__CONFIRMATION_TTL_MINUTES", "0.005")  # 0.3 s
    settings = load_settings()
    async with serving(settings, tg_settings(fake)) as svc:
        task_id, confirmation = await blocked_task(svc, fake, model_env)
        await finished(svc, task_id, TaskStatus.CANCELLED)
        expired = fake.message(GROUP, confirmation.message_id)
        assert "Expired" in expired.text and expired.reply_markup is None
        late = await press(fake, ALICE, confirmation, "Override")
        assert late["show_alert"] is True and "expired" in late["text"]
        assert await status_of(svc, task_id) is TaskStatus.CANCELLED


async def test_a_pending_confirmation_survives_a_restart(
    settings: Settings, fake: FakeTelegram, fake_model: FakeModelServer
) -> None:
    service = tg_settings(fake, access={"self_approval": True})  # a solo set-up: Alice decides on her own task
    async with serving(settings, service) as svc:
        task_id, confirmation = await blocked_task(svc, fake, fake_model)
        await wait_status(svc, task_id, TaskStatus.AWAITING_CONFIRMATION)
        parent_id = confirmation.reply_to
    async with serving(settings, service) as again:
        answer = await press(fake, ALICE, confirmation, "Override")
        assert "approved by Alice" in answer["text"]
        await finished(again, task_id, TaskStatus.DONE)
        assert parent_id is not None
        thread = replies(fake, parent_id)
        assert "The answer." in "\n".join(m.text for m in thread)  # the same thread as before the restart
        assert thread[-1].text.startswith("✅ Done")
        assert "Overridden by Alice" in fake.message(GROUP, confirmation.message_id).text
        assert "done" in fake.message(GROUP, parent_id).text.splitlines()[-1]


# ---------------------------------------------------------------- webhook mode and redelivery


async def test_webhook_checks_the_secret_and_creates_tasks(settings: Settings, fake: FakeTelegram) -> None:
    async with serving(settings, webhook_settings(fake)) as svc:
        assert svc.adapters["telegram"].connected
        assert fake.webhook_url == WEBHOOK_URL and fake.webhook_secret == SECRET
        assert not fake.calls_to("getUpdates")
        url = f"http://127.0.0.1:{svc.port}/telegram/webhook"

        update = fake.update_payload(GROUP, ALICE, "/think via webhook", first_name="Alice")
        assert (await fake.post_webhook(update, url, secret="wrong"))[0] == 401
        assert (await fake.post_webhook(update, url, secret=None))[0] == 401
        assert (await fake.post_webhook(update, url, secret=SECRET[:-1]))[0] == 401
        headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with aiohttp.ClientSession() as http:
            for body in ("{not json", "[1, 2]", '{"no_update_id": true}'):
                async with http.post(url, data=body, headers=headers) as response:
                    assert response.status == 400, body
        await until_idle(svc)
        assert await task_count(svc) == 0 and not fake.calls_to("sendMessage")

        status, _ = await fake.post_webhook(update, url)
        assert status == 200
        task_id = await task_for(svc, update["update_id"])
        await finished(svc, task_id, TaskStatus.DONE)
        command_id = update["message"]["message_id"]
        await wait_until(lambda: bool(ack_of(fake, command_id)))
        [ack] = ack_of(fake, command_id)
        assert task_id[:8] in ack.text
        assert "The answer." in "\n".join(m.text for m in replies(fake, parent_of(fake, command_id).message_id))


@pytest.mark.parametrize("delivery", ["polling", "webhook"])
async def test_a_redelivered_update_makes_one_task_and_one_reply(
    settings: Settings, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch, delivery: str
) -> None:
    service = webhook_settings(fake) if delivery == "webhook" else tg_settings(fake)
    async with serving(settings, service) as svc:
        answered: list[ChatReply | None] = []
        handle = svc.ingress.handle

        async def spy(command: Any) -> ChatReply | None:
            reply = await handle(command)
            answered.append(reply)
            return reply

        monkeypatch.setattr(svc.ingress, "handle", spy)
        update = fake.update_payload(GROUP, ALICE, "/think count the sheep", first_name="Alice")
        url = f"http://127.0.0.1:{svc.port}/telegram/webhook"
        for _ in range(2):
            if delivery == "webhook":
                assert (await fake.post_webhook(update, url))[0] == 200
            else:
                fake.push_raw(update)
            await wait_until(lambda: len(answered) >= 1)
        await wait_until(lambda: len(answered) == 2)
        assert answered[0] is not None and answered[1] is None
        task_id = await task_for(svc, update["update_id"])
        await finished(svc, task_id, TaskStatus.DONE)
        assert await task_count(svc) == 1
        await wait_until(lambda: bool(ack_of(fake, update["message"]["message_id"])))
        assert len(ack_of(fake, update["message"]["message_id"])) == 1
        parent_of(fake, update["message"]["message_id"])  # exactly one parent message


async def test_polled_updates_of_an_unexpected_shape_are_passed_over_with_one_line_each(
    settings: Settings, fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    """The webhook's case is in tests/chat/test_hostile.py; polled, such updates must not stop the updates
    after them either."""
    odd = unexpected_updates(first_update_id=900)
    async with serving(settings, tg_settings(fake)) as svc:
        with caplog.at_level(logging.INFO):
            for _, update in odd:
                fake.push_raw(update)
            update_id, command_id = say(fake, "/think count the sheep")
            task_id = await task_for(svc, update_id)
            await finished(svc, task_id, TaskStatus.DONE)
            await wait_until(lambda: bool(ack_of(fake, command_id)))
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    ignored = [r.getMessage() for r in caplog.records if "unexpected shape" in r.getMessage()]
    assert len(ignored) == len(odd) and all("\n" not in line for line in ignored), ignored
    assert (
        "telegram: ignored update 900 of an unexpected shape (message.text: input should be a valid string)" in ignored
    )
    assert not fake.calls_to("answerCallbackQuery")


# ---------------------------------------------------------------- limits


async def test_long_output_is_split_into_valid_html_messages(
    settings: Settings, fake: FakeTelegram, fake_model: FakeModelServer
) -> None:
    prose = [
        f"Paragraph {n}: keep a < b && c > d for R&D, <not a tag> at all. " + "lorem ipsum " * 30 for n in range(12)
    ]
    code = "\n".join(f"if x{n} < limit and flags & 1: emit('<row {n}>')" for n in range(110))
    output = "\n\n".join([*prose[:6], f"```python\n{code}\n```", *prose[6:]])
    assert len(output) > 10_000
    fake_model.script.default("execute", Reply(content=output))
    async with serving(settings, tg_settings(fake)) as svc:
        update_id, command_id = say(fake, "/think write the long report")
        task_id = await task_for(svc, update_id)
        await finished(svc, task_id, TaskStatus.DONE)
        posts = {p.slot: int(p.message_id) for p in await svc.store.conversations.posts(task_id)}
        chunks = [fake.message(GROUP, posts[f"result:{n}"]) for n in range(sum(s.startswith("result:") for s in posts))]
        assert len(chunks) >= 3
        parent = parent_of(fake, command_id)
        for chunk in chunks:
            assert chunk.reply_to == parent.message_id
            assert chunk.parse_mode == "HTML" and chunk.sent_text is not None
            plain, _ = parse_html(chunk.sent_text)  # well-formed, as Telegram parses it
            assert plain == chunk.text and len(chunk.text) <= 4096
        shown = "\n".join(c.text for c in chunks)
        assert "keep a < b && c > d for R&D, <not a tag> at all." in shown
        for n in (0, 55, 109):
            line = f"if x{n} < limit and flags & 1: emit('<row {n}>')"
            holder = next(c for c in chunks if line in c.text)
            start = holder.text.index(line)
            # Every code line is inside a pre entity, also when the block spans two messages.
            assert any(e["type"] == "pre" and e["offset"] <= start < e["offset"] + e["length"] for e in holder.entities)
        assert sum("emit('<row" in c.text for c in chunks) >= 2, "the code block was expected to span messages"


# PTB's RetryAfter warns about its own int-to-timedelta migration when it is built; the adapter handles both forms.
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_flood_wait_delays_only_that_message(
    settings: Settings, fake: FakeTelegram, fake_model: FakeModelServer
) -> None:
    def sends(fragment: str) -> int:
        return sum(fragment in c["text"] for c in fake.calls_to("sendMessage"))

    # One thread message (the publisher's outbox) and one command reply (an update handler) hit flood control.
    fake.fail_next("sendMessage", retry_after=2, matching=lambda p: "Sovereign" in p["text"])
    fake.fail_next("sendMessage", retry_after=2, matching=lambda p: "Start a task" in p["text"])
    async with serving(settings, tg_settings(fake)) as svc:
        update_id, command_id = say(fake, "/think tidy the backlog")
        task_id = await task_for(svc, update_id)
        await wait_until(lambda: sends("Sovereign") == 1)
        limited_at = time.monotonic()
        _, help_id = say(fake, "/think help", user=BOB)
        await wait_until(lambda: sends("Start a task") == 1)
        _, other_id = say(fake, "/think status", user=BOB)

        await wait_until(lambda: bool(ack_of(fake, help_id)))
        await finished(svc, task_id, TaskStatus.DONE)
        assert time.monotonic() - limited_at >= 1.9  # retry_after was honoured
        assert sends("Sovereign") == 2 and sends("Start a task") == 2
        [help_reply], [status_reply] = ack_of(fake, help_id), ack_of(fake, other_id)
        assert "/think <task>" in help_reply.text
        thread = replies(fake, parent_of(fake, command_id).message_id)
        assert thread[0].text.startswith("Sovereign"), "the delayed message kept its place in the thread"
        assert sum(m.text.startswith("Sovereign") for m in thread) == 1
        assert thread[-1].text.startswith("✅ Done")
        # Message ids are allocated in posting order: the later update was answered while both waited.
        assert status_reply.message_id < min(help_reply.message_id, thread[0].message_id)


async def test_refused_html_is_resent_as_plain_text_and_identical_edits_are_ignored(
    settings: Settings, fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    refused = 'Bad Request: can\'t parse entities: Unsupported start tag "x" at byte offset 0'
    fake.fail_next("sendMessage", error_code=400, description=refused, matching=lambda p: "Sovereign" in p["text"])
    final_status = "✅ done"
    fake.fail_next("editMessageText", error_code=400, description=refused, matching=lambda p: final_status in p["text"])
    async with serving(settings, tg_settings(fake)) as svc:
        update_id, command_id = say(fake, "/think label the issues")
        task_id = await task_for(svc, update_id)
        await finished(svc, task_id, TaskStatus.DONE)
        conversation = await svc.store.conversations.get(task_id)
        assert conversation is not None and conversation.parent_message_id is not None
        parent = fake.message(GROUP, int(conversation.parent_message_id))
        assert parent.reply_to == command_id
        # The refused edit was made again as plain text: the status is current, the markup gone.
        assert parent.parse_mode is None and parent.text.splitlines()[-1].startswith(final_status)
        assert "<b>" not in parent.text and parent.text.startswith("/think label the issues")

        thread = replies(fake, parent.message_id)
        directive = thread[0]
        assert directive.parse_mode is None and directive.text.startswith("Sovereign · ")
        assert "<" not in directive.text
        tries = [c for c in fake.calls_to("sendMessage") if "Sovereign" in c["text"]]
        assert [c.get("parse_mode") for c in tries] == ["HTML", None] and "<b>Sovereign</b>" in tries[0]["text"]
        assert all(m.parse_mode == "HTML" for m in thread[1:])  # only the refused message fell back

        # Telegram answers an edit to the very same content with 400 "message is not modified": not an error.
        done = thread[-1]
        assert done.parse_mode == "HTML" and done.sent_text is not None
        edits = len(fake.calls_to("editMessageText"))
        same = Outgoing(done.sent_text, await feedback_buttons(svc.store, task_id))  # text and 👍/👎 as posted
        await svc.adapters["telegram"].edit(conversation, str(done.message_id), same)
        assert len(fake.calls_to("editMessageText")) == edits + 1 and done.history == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "a refusal was not handled"


# ---------------------------------------------------------------- pure helpers


def test_callback_data_round_trips_and_rejects_foreign_payloads() -> None:
    data = callback_data(Button("Override", "approve", "0123456789abcdef"))
    assert data == "okc:a:0123456789abcdef" and pressed(data) == Pressed("approve", "0123456789abcdef")
    assert pressed(callback_data(Button("Cancel", "deny", "ab12"))) == Pressed("deny", "ab12")
    assert pressed(callback_data(Button("👎", "down", "ab12"))) == Pressed("down", "ab12")
    assert pressed(callback_data(Button("Dismiss", "skill_dismiss", "ab12"))) == Pressed("skill_dismiss", "ab12")
    approval = "0123456789abcdef"
    for action, data in zip(ACTION_CHOICES, ("oka:o", "oka:a", "oka:d"), strict=True):  # once, always, deny
        encoded = callback_data(Button("Allow", action, approval))
        assert encoded == f"{data}:{approval}" and pressed(encoded) == Pressed(action, approval)
    foreigns = (None, "", "okc:x:ab12", "okc:u:ab12", "approve:1", "okc:a:", "okc:a:has space", "oka:x:ab12")
    for foreign in (*foreigns, "oka:u:ab12", "okc:o:ab12", "okp:o:ab12", "oka:o:", "oka:o:ab12:more"):
        assert pressed(foreign) is None, foreign
    with pytest.raises(ValueError, match="64 bytes"):
        callback_data(Button("Override", "approve", "f" * 64))


def test_plain_fallback_shows_what_the_html_showed() -> None:
    html = "<b>Done</b> · a &lt; b &amp;&amp; c &gt; d\n<pre><code>x &lt;tag&gt;</code></pre>"
    assert html_to_plain(html) == parse_html(html)[0] == "Done · a < b && c > d\nx <tag>"


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
@pytest.mark.parametrize("timedelta_mode", [False, True])
def test_retry_after_is_read_in_both_ptb_forms(monkeypatch: pytest.MonkeyPatch, timedelta_mode: bool) -> None:
    if timedelta_mode:
        monkeypatch.setenv("PTB_TIMEDELTA", "true")
    else:
        monkeypatch.delenv("PTB_TIMEDELTA", raising=False)
    assert retry_seconds(RetryAfter(3)) == 3.0
    assert retry_seconds(RetryAfter(dtm.timedelta(seconds=1.5))) == 1.5
