"""The real python-telegram-bot 22 against the fake Bot API: proves the fake is faithful enough
that bot tests built on it exercise the SDK exactly as production does."""

from __future__ import annotations

import asyncio
import datetime as dtm
import time
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Conflict, EndPointNotFound, RetryAfter
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from tests.platforms.telegram.fake_api import FakeTelegram

GROUP = -100123
USER = 42


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url) as client:
        yield client


async def eventually(predicate: Callable[[], bool], within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_polling_commands_replies_and_callbacks(fake: FakeTelegram) -> None:
    seen: list[int] = []

    async def think(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        seen.append(update.update_id)
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Approve", callback_data="approve:1")]])
        await message.reply_text(f"thinking about {' '.join(context.args or [])}", do_quote=True, reply_markup=keyboard)

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("ok")
        await query.edit_message_text(f"done: {query.data}")

    app = Application.builder().token(fake.token).base_url(fake.base_url).build()
    app.add_handler(CommandHandler("think", think))
    app.add_handler(CallbackQueryHandler(pressed))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            first = fake.push_message(GROUP, USER, "/think hello", username="alice")
            await eventually(lambda: len(fake.bot_messages(GROUP)) == 1)
            # Addressed to another bot: PTB must ignore it, which needs the entity and getMe.
            fake.push_message(GROUP, USER, "/think@other_bot nope")
            second = fake.push_message(GROUP, USER, "/think@openkoi_bot hi")
            await eventually(lambda: len(fake.bot_messages(GROUP)) == 2)
            assert seen == [first, second]

            commands = [m for m in fake.messages(GROUP) if not m.from_bot]
            replies = fake.bot_messages(GROUP)
            assert [r.text for r in replies] == ["thinking about hello", "thinking about hi"]
            assert [r.reply_to for r in replies] == [commands[0].message_id, commands[2].message_id]
            assert replies[0].buttons == [{"text": "Approve", "callback_data": "approve:1"}]
            sent = fake.calls_to("sendMessage")[0]
            assert sent["reply_parameters"]["message_id"] == commands[0].message_id

            # Redelivery of an already confirmed update reaches the bot again.
            redelivered = fake.update_payload(GROUP, USER, "/think again")
            fake.push_raw(redelivered)
            await eventually(lambda: len(seen) == 3)
            fake.push_raw(redelivered)
            await eventually(lambda: len(seen) == 4)
            assert seen[2:] == [redelivered["update_id"]] * 2

            press = fake.push_callback_query(GROUP, USER, replies[0].message_id, "approve:1")
            await eventually(lambda: bool(fake.calls_to("editMessageText")))
            answer = fake.callback_answers[fake.callback_id(press)]
            assert answer is not None and answer["text"] == "ok"
            edited = fake.message(GROUP, replies[0].message_id)
            assert edited.text == "done: approve:1"
            assert edited.history == ["thinking about hello"]
            assert edited.reply_markup is None  # an edit without markup drops the keyboard
        finally:
            await app.updater.stop()
            await app.stop()
    # The updater's last getUpdates confirms everything it fetched.
    assert fake.pending_updates == 0
    assert {"getMe", "deleteWebhook", "getUpdates"} <= {call.method for call in fake.calls}


async def test_long_poll_waits_and_wakes(fake: FakeTelegram, bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert time.monotonic() - started >= 0.9

    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    update_id = fake.push_message(USER, USER, "hello", chat_type="private")
    updates = await poll
    assert time.monotonic() - started < 1
    assert [u.update_id for u in updates] == [update_id]
    assert updates[0].effective_chat is not None and updates[0].effective_chat.type == "private"
    # Not confirmed yet: delivered again until an offset passes it.
    assert [u.update_id for u in await bot.get_updates()] == [update_id]
    assert await bot.get_updates(offset=update_id + 1) == ()
    assert fake.pending_updates == 0


async def test_telegram_limits_raise_bad_request(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(GROUP, "x" * 4097)
    await bot.send_message(GROUP, "x" * 4096)

    message = await bot.send_message(GROUP, "same")
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("same", chat_id=GROUP, message_id=message.message_id)

    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(GROUP, "<b>unclosed", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(GROUP, "<div>no</div>", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)is reserved"):
        await bot.send_message(GROUP, "version 1.2", parse_mode="MarkdownV2")

    html = await bot.send_message(GROUP, "<b>bold</b> &amp; <a href='https://x.y'>link</a>", parse_mode="HTML")
    assert html.text == "bold & link"
    assert html.text_html == '<b>bold</b> &amp; <a href="https://x.y">link</a>'

    too_big = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="d" * 65)]])
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(GROUP, "buttons", reply_markup=too_big)

    with pytest.raises(BadRequest, match=r"(?i)message to be replied not found"):
        await bot.send_message(GROUP, "reply", reply_to_message_id=9999)
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("noSuchMethod")


async def test_injected_flood_wait_raises_retry_after(
    fake: FakeTelegram, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Opt in to PTB's future timedelta form; the int form warns as deprecated since 22.2.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    fake.fail_next("sendMessage", retry_after=1)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(GROUP, "hi")
    assert caught.value.retry_after == dtm.timedelta(seconds=1)
    assert fake.calls_to("sendMessage")[0]["text"] == "hi"
    await bot.send_message(GROUP, "hi")  # only the next call fails
    assert len(fake.calls_to("sendMessage")) == 2
    assert len(fake.bot_messages(GROUP)) == 1


async def test_webhook_mode(fake: FakeTelegram, bot: Bot) -> None:
    received: list[dict[str, object]] = []

    async def route(request: web.Request) -> web.Response:
        if request.headers.get("X-Telegram-Bot-Api-Secret-Token") != "s3cret":
            return web.Response(status=403)
        received.append(await request.json())
        return web.Response()

    with pytest.raises(BadRequest, match=r"(?i)HTTPS"):
        await bot.set_webhook("http://example.com/tg")
    assert await bot.set_webhook("https://example.com/tg", secret_token="s3cret")
    assert fake.webhook_secret == "s3cret"
    assert (await bot.get_webhook_info()).url == "https://example.com/tg"
    with pytest.raises(Conflict):
        await bot.get_updates()

    app = web.Application()
    app.router.add_post("/tg", route)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/tg"
        update = fake.update_payload(GROUP, USER, "/think@openkoi_bot via webhook")
        assert (await fake.post_webhook(update, url))[0] == 200
        assert (await fake.post_webhook(update, url, secret="wrong"))[0] == 403
    finally:
        await runner.cleanup()
    assert received == [update]
    parsed = Update.de_json(update, bot)
    assert parsed.message is not None and parsed.message.text is not None
    assert parsed.message.parse_entity(parsed.message.entities[0]) == "/think@openkoi_bot"

    assert await bot.delete_webhook()
    assert await bot.get_updates() == ()


async def test_scripted_failure_can_target_one_matching_call(
    fake: FakeTelegram, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    fake.fail_next("sendMessage", retry_after=2, matching=lambda params: "second" in str(params.get("text")))
    await bot.send_message(GROUP, "first")  # does not match: goes through, the failure stays armed
    with pytest.raises(RetryAfter):
        await bot.send_message(GROUP, "the second one")
    await bot.send_message(GROUP, "the second one")  # used up
    assert [m.text for m in fake.bot_messages(GROUP)] == ["first", "the second one"]


async def test_callback_query_carries_the_pressers_name(fake: FakeTelegram, bot: Bot) -> None:
    message = await bot.send_message(GROUP, "pick")
    fake.push_callback_query(GROUP, 7, message.message_id, "x", first_name="Bob", username="bob")
    [update] = await bot.get_updates()
    assert update.callback_query is not None
    assert update.callback_query.from_user.full_name == "Bob"
    assert update.callback_query.from_user.username == "bob"
