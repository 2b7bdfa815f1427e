"""Issue 8, defect 7: a task whose thread cannot be posted is cancelled, never run unseen, and the person
who asked is told privately why and what to do.

Each platform's fake refuses the way the real service does (Slack ``not_in_channel`` /
``channel_not_found``, Discord 403 with 50013 or 50001, Telegram 403 or 400 "not enough rights"); the
real SDKs, the whole service and the fake model run as in production. The model must never be asked
anything: the task ends before its first step.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from core.config import Settings
from core.models import TaskStatus
from tests.chat_service import running_service, wait_until
from tests.fakes.model_server import FakeModelServer
from tests.platforms.discord.fake_api import FLAG_EPHEMERAL, FakeDiscord
from tests.platforms.discord.test_adapter import discord_service, task_of, think
from tests.platforms.slack.fake_api import CHANNEL_ID, USER_ID, FakeSlack
from tests.platforms.slack.test_adapter import APP_TOKEN, BOT_TOKEN, slack_service, slash
from tests.platforms.slack.test_adapter import parent_of as slack_parent_of
from tests.platforms.slack.test_adapter import task_for as slack_task_for
from tests.platforms.telegram.fake_api import FakeTelegram
from tests.platforms.telegram.test_adapter import ALICE, GROUP, say, serving, task_for, tg_settings
from tests.support import guardian_blocks_next, wait_status

pytestmark = pytest.mark.usefixtures("discord_globals")


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(bot_token=BOT_TOKEN, app_token=APP_TOKEN) as fake:
        yield fake


@pytest.mark.parametrize("error", ["not_in_channel", "channel_not_found"])
async def test_slack_channel_that_refuses_the_bot(
    settings: Settings, slack: FakeSlack, fake_model: FakeModelServer, error: str
) -> None:
    slack.refuse_channel(CHANNEL_ID, error)
    async with running_service(settings, slack_service(slack)) as svc:
        assert (await slash(svc, slack, "summarise the incident", trigger_id="trig-refused")).status == 200
        task_id = await slack_task_for(svc, "trig-refused")
        await wait_status(svc, task_id, TaskStatus.CANCELLED)
        await wait_until(lambda: len(slack.responses_to("trig-refused")) >= 1)
        task = await svc.store.tasks.get(task_id)
    notice = slack.responses_to("trig-refused")[-1]
    assert notice["response_type"] == "ephemeral"  # only the person who asked sees it
    assert error in notice["text"] and "/invite @openkoi" in notice["text"] and task_id[:8] in notice["text"]
    assert [m for m in slack.messages if m.channel == CHANNEL_ID] == []
    assert "refused the thread" in (task.error or "")
    assert fake_model.requests == [], "the model was asked nothing: the task never ran"


async def test_slack_mention_notice_falls_back_to_a_direct_message(
    settings: Settings, slack: FakeSlack, fake_model: FakeModelServer
) -> None:
    """Without a response_url (a mention) and with the channel refusing ephemerals too, a DM says it."""
    from bots.chat.platform import Actor, InboundCommand

    slack.refuse_channel(CHANNEL_ID, "not_in_channel")
    async with running_service(settings, slack_service(slack)) as svc:
        command = InboundCommand("slack", "evt-1", Actor("slack", USER_ID, "alice"), CHANNEL_ID, "do it")
        reply = await svc.ingress.handle(command)
        assert reply is not None and reply.task_id
        await wait_status(svc, reply.task_id, TaskStatus.CANCELLED)
        await wait_until(lambda: any(m.channel == USER_ID for m in slack.messages))
    (dm,) = [m for m in slack.messages if m.channel == USER_ID]
    assert "not_in_channel" in (dm.text or "") and "Invite me" in (dm.text or "")
    assert fake_model.requests == []


async def test_discord_notice_falls_back_to_a_direct_message_once_the_interaction_expired(
    settings: Settings, discord_fake: FakeDiscord, fake_model: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = discord_fake
    monkeypatch.setattr("bots.discord.adapter.FOLLOWUP_SECONDS", -1.0)  # as if the task waited 15 minutes
    fake.forbid_channel(fake.channel_id)
    async with running_service(settings, discord_service(fake)) as svc:
        payload = await think(fake, "write the release notes")
        task_id = await task_of(svc, payload)
        await wait_status(svc, task_id, TaskStatus.CANCELLED)
        dm = fake.dm_channel(fake.user_id)["id"]
        await wait_until(lambda: bool(fake.channel_messages(dm)))
    (notice,) = fake.channel_messages(dm)
    assert "could not post" in notice["content"] and "50013" in notice["content"]
    assert fake_model.requests == []


@pytest.mark.parametrize(("code", "message"), [(50013, "Missing Permissions"), (50001, "Missing Access")])
async def test_discord_channel_that_refuses_the_bot(
    settings: Settings, discord_fake: FakeDiscord, fake_model: FakeModelServer, code: int, message: str
) -> None:
    fake = discord_fake
    fake.forbid_channel(fake.channel_id, code, message)
    async with running_service(settings, discord_service(fake)) as svc:
        payload = await think(fake, "write the release notes")
        task_id = await task_of(svc, payload)
        await wait_status(svc, task_id, TaskStatus.CANCELLED)

        def notice_sent() -> bool:
            return any("could not post" in str(m["content"]) for m in fake.channel_messages(fake.channel_id))

        await wait_until(notice_sent)
    (notice,) = [m for m in fake.channel_messages(fake.channel_id) if "could not post" in str(m["content"])]
    assert notice["flags"] & FLAG_EPHEMERAL, "a follow-up to the /think interaction, seen only by its author"
    assert str(code) in notice["content"] and "Send Messages" in notice["content"]
    assert fake.threads() == []
    assert fake_model.requests == []


@pytest.mark.parametrize(
    ("code", "description"),
    [
        (403, "Forbidden: bot was kicked from the supergroup chat"),
        (400, "Bad Request: not enough rights to send text messages to the chat"),
    ],
)
async def test_telegram_group_that_refuses_the_bot(
    settings: Settings, telegram: FakeTelegram, fake_model: FakeModelServer, code: int, description: str
) -> None:
    telegram.refuse_chat(GROUP, code, description)
    async with serving(settings, tg_settings(telegram)) as svc:
        update_id, _ = say(telegram, "/think plan the migration")
        task_id = await task_for(svc, update_id)

        async def cancelled() -> bool:
            return (await svc.store.tasks.get(task_id)).status is TaskStatus.CANCELLED

        await wait_until(cancelled)
        await wait_until(lambda: bool(telegram.bot_messages(ALICE)))
    (notice,) = telegram.bot_messages(ALICE)  # a direct message: a group has no private replies
    # PTB drops Telegram's "Forbidden: "/"Bad Request: " and capitalises the rest.
    assert description.split(": ", 1)[1].lower() in notice.text.lower() and "Add me to the group" in notice.text
    assert telegram.bot_messages(GROUP) == []
    assert fake_model.requests == []


# ----------------------------------------------------------------------------- removed mid-task
# The bot loses the chat after the task's thread was opened (kicked from the group, a permission taken
# away). The Guardian blocks each task here, so the task cannot end on its own before its next message:
# that message fails, and the task is cancelled (its Override buttons would go nowhere) and the
# requester told privately, instead of the task waiting unseen until its request expires.


async def test_slack_bot_removed_from_the_channel_mid_task(
    settings: Settings, slack: FakeSlack, fake_model: FakeModelServer
) -> None:
    guardian_blocks_next(fake_model, "risky")
    async with running_service(settings, slack_service(slack, approvers=("UAPPROVER",))) as svc:
        slack.refuse_channel(CHANNEL_ID, "not_in_channel", after_first_post=True)  # removed once the parent is up
        assert (await slash(svc, slack, "drop the old tables", trigger_id="trig-removed")).status == 200
        task_id = await slack_task_for(svc, "trig-removed")
        parent = await slack_parent_of(svc, task_id)
        await wait_status(svc, task_id, TaskStatus.CANCELLED)

        def told() -> bool:
            return any("can no longer post" in r["text"] for r in slack.responses_to("trig-removed"))

        await wait_until(told)
        task = await svc.store.tasks.get(task_id)
    (notice,) = [r for r in slack.responses_to("trig-removed") if "can no longer post" in r["text"]]
    assert notice["response_type"] == "ephemeral"
    assert "was cancelled" in notice["text"] and "not_in_channel" in notice["text"] and "/invite" in notice["text"]
    assert [m.ts for m in slack.messages if m.channel == CHANNEL_ID] == [parent], "nothing after the parent"
    assert "refused the thread" in (task.error or "")


async def test_discord_thread_permission_taken_away_mid_task(
    settings: Settings, discord_fake: FakeDiscord, fake_model: FakeModelServer
) -> None:
    fake = discord_fake
    guardian_blocks_next(fake_model, "risky")
    async with running_service(settings, discord_service(fake)) as svc:
        fake.forbid_new_threads(50013, "Missing Permissions")  # Send Messages in Threads, once the thread exists
        payload = await think(fake, "drop the old tables")
        task_id = await task_of(svc, payload)
        await wait_status(svc, task_id, TaskStatus.CANCELLED)
        assert len(fake.threads()) == 1, "the thread was opened: the refusal came mid-task"

        def told() -> bool:
            return any("can no longer post" in str(m["content"]) for m in fake.channel_messages(fake.channel_id))

        await wait_until(told)
    (notice,) = [m for m in fake.channel_messages(fake.channel_id) if "can no longer post" in str(m["content"])]
    assert notice["flags"] & FLAG_EPHEMERAL and "50013" in notice["content"]
    assert "was cancelled" in notice["content"]


async def test_telegram_bot_kicked_from_the_group_mid_task(
    settings: Settings, telegram: FakeTelegram, fake_model: FakeModelServer
) -> None:
    guardian_blocks_next(fake_model, "risky")
    async with serving(settings, tg_settings(telegram)) as svc:
        update_id, _ = say(telegram, "/think drop the old tables")
        task_id = await task_for(svc, update_id)

        async def parent_posted() -> bool:  # not the answer to /think, which is a reply in the group too
            conversation = await svc.store.conversations.get(task_id)
            return conversation is not None and conversation.parent_message_id is not None

        await wait_until(parent_posted)
        telegram.refuse_chat(GROUP, 403, "Forbidden: bot was kicked from the supergroup chat")

        async def cancelled() -> bool:
            return (await svc.store.tasks.get(task_id)).status is TaskStatus.CANCELLED

        await wait_until(cancelled, within=10)
        await wait_until(lambda: bool(telegram.bot_messages(ALICE)))
    (notice,) = telegram.bot_messages(ALICE)
    assert "can no longer post" in notice.text and "was cancelled" in notice.text and "kicked" in notice.text
