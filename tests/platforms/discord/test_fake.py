"""Self-test of the fake Discord: the real discord.py client logs in, connects over the fake
gateway, runs a slash command and a DynamicItem button, creates a thread and rides out a 429."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import discord
import pytest
from discord import app_commands

from tests.platforms.discord.fake_api import FakeDiscord

TOKEN = "fake-bot-token"


class ConfirmButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"openkoi:confirm:(?P<id>\w+)"):
    """A button that survives restarts: its state lives in the custom_id."""

    pressed: ClassVar[list[str]] = []

    def __init__(self, plan_id: str) -> None:
        super().__init__(discord.ui.Button(label="Confirm", custom_id=f"openkoi:confirm:{plan_id}"))
        self.plan_id = plan_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> ConfirmButton:
        return cls(match["id"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        ConfirmButton.pressed.append(self.plan_id)
        await interaction.response.edit_message(content=f"confirmed {self.plan_id}", view=None)


class Bot(discord.Client):
    def __init__(self) -> None:
        # No members / message_content intents: no privileged intents, no chunking (op 8).
        intents = discord.Intents.default()
        intents.members = False
        intents.message_content = False
        # guild_ready_timeout: discord.py otherwise waits 2 s after the last GUILD_CREATE.
        super().__init__(intents=intents, guild_ready_timeout=0.1)
        self.tree = app_commands.CommandTree(self)
        self.thinks: list[str] = []

        @self.tree.command(name="think", description="Think about a task")
        async def think(interaction: discord.Interaction[Any], task: str) -> None:
            await interaction.response.defer(thinking=True)
            self.thinks.append(task)
            await interaction.followup.send(f"thought about: {task}")

    async def setup_hook(self) -> None:
        self.add_dynamic_items(ConfirmButton)


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(token=TOKEN) as server:
        # monkeypatch restores both process globals after the test.
        monkeypatch.setattr(discord.http.Route, "BASE", server.api_base)
        monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", server.gateway_url)
        yield server


@pytest.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[Bot]:
    client = Bot()
    await client.login(TOKEN)
    task = asyncio.create_task(client.connect())
    try:
        await asyncio.wait_for(client.wait_until_ready(), 5)
        yield client
    finally:
        await client.close()
        await asyncio.wait_for(task, 5)


async def test_slash_command_defer_then_followup(fake: FakeDiscord, bot: Bot) -> None:
    assert fake.identify_payload is not None
    assert fake.identify_payload["token"] == TOKEN
    assert fake.gateway_connections[0]["v"] == "10"
    guild = bot.get_guild(int(fake.guild_id))
    assert guild is not None
    assert guild.get_channel(int(fake.channel_id)) is not None

    synced = await bot.tree.sync()
    assert [c.name for c in synced] == ["think"]
    assert fake.commands[0]["id"] == str(synced[0].id)

    payload = fake.slash_command_interaction("think", {"task": "plan the migration"})
    await fake.push_interaction(payload)
    followups = await fake.wait_for_call("POST", f"/webhooks/{fake.application_id}/{payload['token']}")

    assert [cb.type for cb in fake.callbacks] == [5]
    assert fake.callbacks[0].interaction_id == payload["id"]
    assert followups[0].query.get("wait") in ("true", "1")
    assert bot.thinks == ["plan the migration"]
    # The first follow-up after defer fills in the "thinking" message, as on Discord.
    original = fake.original_message(payload["token"])
    assert original is not None
    assert original["content"] == "thought about: plan the migration"
    assert original["flags"] & 128 == 0
    assert len(fake.channel_messages(fake.channel_id)) == 1

    # A redelivered interaction (RESUME replay) reaches the bot again; dedupe is the bot's job.
    replayed = await fake.replay_last_dispatch()
    assert replayed["id"] == payload["id"]
    assert len(fake.resume_payloads) == 1
    assert len(fake.dispatches("INTERACTION_CREATE")) == 2
    # The second delivery answers with 40060: Discord refuses a second acknowledgement.
    await fake.wait_for_call("POST", f"/interactions/{payload['id']}/", count=2)
    assert fake.calls_to("POST", f"/interactions/{payload['id']}/")[-1].status == 400
    assert len(fake.callbacks) == 1


async def test_dynamic_item_button_updates_message(fake: FakeDiscord, bot: Bot) -> None:
    ConfirmButton.pressed.clear()
    payload = fake.component_interaction("openkoi:confirm:plan42")
    message_id = payload["message"]["id"]
    await fake.push_interaction(payload)
    await fake.wait_for_call("POST", f"/interactions/{payload['id']}/")

    assert ConfirmButton.pressed == ["plan42"]
    assert [cb.type for cb in fake.callbacks] == [7]
    stored = fake.message(message_id)
    assert stored is not None
    assert stored["content"] == "confirmed plan42"
    assert stored["components"] == []


async def test_thread_and_rate_limit(fake: FakeDiscord, bot: Bot) -> None:
    channel = bot.get_channel(int(fake.channel_id))
    assert isinstance(channel, discord.TextChannel)
    starter = await channel.send("Working on it")
    thread = await starter.create_thread(name="openkoi run")
    assert thread.id == starter.id
    assert thread.parent_id == channel.id
    assert fake.channels[str(thread.id)]["type"] == 11

    fake.fail_next("POST /channels/*/messages", status=429, retry_after=0.5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    reply = await thread.send("step 1 done")
    assert loop.time() - started >= 0.45

    posts = fake.calls_to("POST", f"/channels/{thread.id}/messages")
    assert [c.status for c in posts] == [429, 200]
    assert reply.channel.id == thread.id
    assert [m["content"] for m in fake.channel_messages(thread.id)] == ["step 1 done"]
    assert fake.channels[str(thread.id)]["message_count"] == 1
    fetched = await bot.fetch_channel(thread.id)
    assert isinstance(fetched, discord.Thread)


def test_interactions_carry_the_members_roles() -> None:
    fake = FakeDiscord()  # the payload builders need no running server
    role = "1100000000000000700"
    slash = fake.slash_command_interaction("think", {"task": "x"}, roles=[role])
    press = fake.component_interaction("openkoi:confirm:abc", user_id=fake.OWNER_ID, roles=[role])
    assert slash["member"]["roles"] == [role] and press["member"]["roles"] == [role]
    assert press["member"]["user"]["id"] == fake.OWNER_ID
    dm = fake.slash_command_interaction("think", {"task": "x"}, guild_id="", roles=[role])
    assert "member" not in dm and dm["user"]["id"] == fake.USER_ID
