"""The Discord adapter end to end: the real discord.py against ``FakeDiscord`` (REST + gateway), the whole
service in-process (ingress, worker pool, publisher, confirmation desk, store) and the fake model.

Every assertion is on what the fake recorded (interaction callbacks, messages, threads, edits) or on the
store, polled with ``wait_until``: discord.py answers asynchronously, so return values prove little.
"""

from __future__ import annotations

import asyncio
import copy
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest

from bots.chat.intake import NOT_ACCEPTED_TEXT
from bots.chat.platform import ACTION_CHOICES, Actor, Button, InboundCommand, Pressed, Reply
from bots.config import ServiceSettings
from bots.discord.adapter import DiscordAdapter
from bots.discord.custom_id import ACTION_TEMPLATE, CODEC, FEEDBACK_TEMPLATE, TEMPLATE, custom_id
from bots.discord.slash import think_text, thread_name
from bots.service import Service
from core.config import Settings, load_settings
from core.models import TaskStatus
from tests.chat_service import feedback_figures, running_service, service_settings, wait_until
from tests.fakes import scripts
from tests.fakes.model_server import FakeModelServer
from tests.fakes.model_server import Reply as ModelReply
from tests.platforms.discord.fake_api import FLAG_EPHEMERAL, FLAG_LOADING, FakeDiscord, InteractionCallback
from tests.support import guardian_blocks_next, wait_status

JSON = dict[str, Any]
TOKEN = "discord-test-token"
ALICE = FakeDiscord.USER_ID  # asks
OWNER = FakeDiscord.OWNER_ID  # a configured approver
CAROL = "1100000000000000600"  # holds the approver role
APPROVER_ROLE = "1100000000000000700"
BLOCK_REASON = "dropping the production table cannot be undone"
pytestmark = pytest.mark.usefixtures("discord_globals")


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    # interaction_deadline: the fake answers 10062 to a first response later than Discord's 3 s.
    async with FakeDiscord(token=TOKEN, interaction_deadline=3.0) as server:
        server.add_user(CAROL, "carol")
        yield server


def discord_service(
    fake: FakeDiscord, *, guild: bool = True, serve: JSON | None = None, **access: list[str] | bool
) -> ServiceSettings:
    section: JSON = {
        "bot_token": TOKEN,
        "api_url": fake.api_base,
        "gateway_url": str(fake.gateway_url),
        "edit_interval": 0.05,
        "access": access,
    }
    if guild:
        section["guild_ids"] = [int(fake.guild_id)]
    return service_settings(discord=section, serve=serve or {})


async def think(fake: FakeDiscord, task: str, user_id: str = ALICE, **options: Any) -> JSON:
    """Push a `/think task:<task> …` interaction; returns its payload."""
    return await fake.push_interaction(
        fake.slash_command_interaction("think", {"task": task, **options}, user_id=user_id)
    )


async def followup(fake: FakeDiscord, payload: JSON) -> JSON:
    """The interaction's answer: the deferred "thinking" message once the follow-up has filled it in."""

    def answered() -> bool:
        original = fake.original_message(payload["token"])
        return original is not None and not original["flags"] & FLAG_LOADING

    await wait_until(answered)
    original = fake.original_message(payload["token"])
    assert original is not None
    return original


async def task_of(svc: Service, payload: JSON) -> str:
    found: list[str] = []

    async def created() -> bool:
        task_id = await svc.store.inbound.task_for("discord", payload["id"])
        found[:] = [task_id] if task_id else []
        return bool(found)

    await wait_until(created)
    return found[0]


def texts(fake: FakeDiscord, channel_id: str) -> list[str]:
    return [str(m["content"]) for m in fake.channel_messages(channel_id)]


async def thread_says(fake: FakeDiscord, thread_id: str, needle: str, within: float = 10.0) -> JSON:
    """Wait for a message containing ``needle`` in the thread; returns it."""
    await wait_until(lambda: any(needle in t for t in texts(fake, thread_id)), within=within)
    return next(m for m in fake.channel_messages(thread_id) if needle in m["content"])


def buttons_of(message: JSON) -> list[JSON]:
    return [c for row in message.get("components", []) for c in row.get("components", [])]


async def press(fake: FakeDiscord, message: JSON, action: str, user_id: str, roles: tuple[str, ...] = ()) -> JSON:
    """Press the message's ``action`` button as ``user_id``; returns the interaction payload once answered."""
    (button,) = [b for b in buttons_of(message) if b["custom_id"].split(":")[1] == action]
    payload = fake.component_interaction(button["custom_id"], message_id=message["id"], user_id=user_id, roles=roles)
    await fake.push_interaction(payload)
    await fake.wait_for_call("POST", f"/interactions/{payload['id']}/")
    return payload


async def followup_message(fake: FakeDiscord, payload: JSON) -> JSON:
    """The follow-up sent for an interaction acknowledged without a message (a deferred press)."""
    path = f"/webhooks/{fake.application_id}/{payload['token']}"
    await fake.wait_for_call("POST", path)
    (sent,) = [
        m
        for m in fake.channel_messages(payload["channel_id"])
        if m.get("interaction_metadata", {}).get("id") == payload["id"]
    ]
    return sent


def callback_of(fake: FakeDiscord, payload: JSON) -> InteractionCallback:
    (callback,) = [c for c in fake.callbacks if c.interaction_id == payload["id"]]
    return callback


async def blocked_task(fake: FakeDiscord, svc: Service, model: FakeModelServer, task: str) -> tuple[str, str, JSON]:
    """Start a task the Guardian blocks; returns (task id, thread id, the confirmation message)."""
    guardian_blocks_next(model, BLOCK_REASON)
    payload = await think(fake, task)
    task_id = await task_of(svc, payload)
    await wait_status(svc, task_id, TaskStatus.AWAITING_CONFIRMATION)
    conversation = await svc.store.conversations.get(task_id)
    assert conversation is not None and conversation.thread_id is not None
    thread_id = conversation.thread_id
    confirmation = await thread_says(fake, thread_id, "Guardian blocked this task")
    return task_id, thread_id, copy.deepcopy(confirmation)  # as posted; the fake edits its own copy


# --------------------------------------------------------------------------- tests


async def test_think_defers_then_runs_in_a_thread(fake: FakeDiscord, settings: Settings) -> None:
    async with running_service(settings, discord_service(fake)) as svc:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{svc.port}/readyz") as r:
            assert (await r.json())["platforms"] == {"discord": True}
        assert fake.guild_commands[fake.guild_id][0]["name"] == "think"

        pushed = time.monotonic()
        payload = await think(fake, "write a haiku about koi ponds")
        await fake.wait_for_call("POST", f"/interactions/{payload['id']}/")
        deferred = callback_of(fake, payload)
        assert deferred.type == 5, "a /think must be deferred (type 5) before any work"
        assert deferred.data["flags"] & FLAG_EPHEMERAL
        assert deferred.at - pushed < 3.0

        task_id = await task_of(svc, payload)
        answer = await followup(fake, payload)
        assert task_id[:8] in answer["content"] and answer["flags"] & FLAG_EPHEMERAL

        await wait_status(svc, task_id, TaskStatus.DONE)
        (thread,) = fake.threads()
        thread_id = str(thread["id"])
        parent = fake.message(thread_id)  # a thread started from a message shares its id
        assert parent is not None and parent["channel_id"] == fake.channel_id
        assert thread["parent_id"] == fake.channel_id and thread["name"] == "write a haiku about koi ponds"
        done = await thread_says(fake, thread_id, "**Done**")
        said = texts(fake, thread_id)
        assert said[0].startswith("**Sovereign**")
        verdict = next(t for t in said if t.startswith("**Parliament**"))
        for agency in scripts.AGENCIES:
            assert f"**{agency.capitalize()}**" in verdict
        assert any(re.search(r"\*\*Iteration \d+\*\* · score", t) for t in said)
        assert "The answer." in said
        assert said.index("The answer.") < said.index(done["content"])
        await wait_until(lambda: "✅ done" in str((fake.message(thread_id) or {}).get("content")))

        task = await svc.store.tasks.get(task_id)
        assert task.source == "discord" and task.description == "write a haiku about koi ponds"
        conversation = await svc.store.conversations.get(task_id)
        assert conversation is not None and conversation.thread_id == thread_id
        posts = fake.calls_to("POST", "/channels/")
        assert posts and all(c.headers["Authorization"] == f"Bot {TOKEN}" for c in posts)
        assert all(c.json["allowed_mentions"] == {"parse": []} for c in posts if c.path.endswith("/messages"))
    assert fake.api_base != discord.http.Route.BASE, "stop must put the process-global REST base back"


async def test_a_command_that_cannot_be_saved_is_answered_not_accepted(fake: FakeDiscord, settings: Settings) -> None:
    """Deferred at once (a promise of nothing), then answered honestly: the database did not take it."""
    async with running_service(settings, discord_service(fake)) as svc:
        svc.ingress.save_within = 0.5
        lock = sqlite3.connect(settings.db_path, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            payload = await think(fake, "rotate the keys")
            answer = await followup(fake, payload)
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        assert callback_of(fake, payload).type == 5
        assert answer["content"] == NOT_ACCEPTED_TEXT and answer["flags"] & FLAG_EPHEMERAL
        assert await svc.store.inbound.task_for("discord", payload["id"]) is None
        assert sum((await svc.store.tasks.counts()).values()) == 0


async def test_guardian_block_waits_for_an_approver(
    fake: FakeDiscord, settings: Settings, fake_model: FakeModelServer
) -> None:
    service = discord_service(fake, approvers=[OWNER], approver_roles=[APPROVER_ROLE])
    async with running_service(settings, service) as svc:
        task_id, thread_id, confirmation = await blocked_task(fake, svc, fake_model, "drop the production table")
        assert BLOCK_REASON in confirmation["content"]
        buttons = buttons_of(confirmation)
        assert [(b["label"], b["style"]) for b in buttons] == [("Override", 4), ("Cancel", 2)]  # danger, secondary
        for button in buttons:
            assert re.fullmatch(TEMPLATE, button["custom_id"]) and len(button["custom_id"]) <= 100
        assert "execute" not in fake_model.kinds()

        # Four eyes: the requester may not override her own task; refused privately, nothing changes.
        refused = await press(fake, confirmation, "approve", ALICE)
        answer = callback_of(fake, refused)
        assert answer.type == 4 and answer.data["flags"] & FLAG_EPHEMERAL
        assert "Four eyes" in answer.data["content"]
        assert (await svc.store.tasks.get(task_id)).status is TaskStatus.AWAITING_CONFIRMATION
        assert len(buttons_of(fake.message(confirmation["id"]) or {})) == 2

        approved = await press(fake, confirmation, "approve", OWNER)
        assert callback_of(fake, approved).type == 6  # acknowledged; the thread shows the decision
        await wait_status(svc, task_id, TaskStatus.DONE)
        await thread_says(fake, thread_id, "The answer.")
        await thread_says(fake, thread_id, "**Done**")
        decided = await thread_says(fake, thread_id, "**Overridden** by Owner")
        assert decided["id"] == confirmation["id"] and decided["components"] == []
        assert re.search(r"at \d{4}-\d\d-\d\d \d\d:\d\d UTC", decided["content"])

        # A late press on the edited card (a client not yet refreshed shows the old buttons) is answered
        # privately with why it no longer counts, not left for Discord to call "This interaction failed".
        late = await press(fake, confirmation, "approve", CAROL, roles=(APPROVER_ROLE,))
        answer = callback_of(fake, late)
        assert answer.type == 4 and answer.data["flags"] & FLAG_EPHEMERAL
        assert "already approved by Owner" in answer.data["content"]

        # A member holding an approver role may decide too.
        task2, thread2, confirmation2 = await blocked_task(fake, svc, fake_model, "truncate the audit log")
        assert thread2 != thread_id
        approved2 = await press(fake, confirmation2, "approve", CAROL, roles=(APPROVER_ROLE,))
        assert callback_of(fake, approved2).type == 6
        await wait_status(svc, task2, TaskStatus.DONE)
        decided2 = await thread_says(fake, thread2, "**Overridden** by Carol")
        assert decided2["components"] == []


async def test_cancel_button_cancels_the_task(
    fake: FakeDiscord, settings: Settings, fake_model: FakeModelServer
) -> None:
    # No approvers configured: the person who asked decides.
    async with running_service(settings, discord_service(fake)) as svc:
        task_id, thread_id, confirmation = await blocked_task(fake, svc, fake_model, "rotate every API key")
        pressed = await press(fake, confirmation, "deny", ALICE)
        assert callback_of(fake, pressed).type == 6
        await wait_status(svc, task_id, TaskStatus.CANCELLED)
        decided = await thread_says(fake, thread_id, "**Cancelled** by Alice")
        assert decided["id"] == confirmation["id"] and decided["components"] == []
        await wait_until(lambda: "🚫 cancelled" in str((fake.message(thread_id) or {})["content"]))
        assert "execute" not in fake_model.kinds()


async def test_unanswered_confirmation_expires(
    fake: FakeDiscord, model_env: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENKOI_PARLIAMENT__CONFIRMATION_TTL_MINUTES", "0.005")  # 0.3 s
    settings = load_settings()
    async with running_service(settings, discord_service(fake)) as svc:
        task_id, thread_id, confirmation = await blocked_task(fake, svc, model_env, "delete the old backups")
        await wait_status(svc, task_id, TaskStatus.CANCELLED)
        expired = await thread_says(fake, thread_id, "**Expired**")
        assert expired["id"] == confirmation["id"] and expired["components"] == []
        await wait_until(lambda: "🚫 cancelled" in str((fake.message(thread_id) or {})["content"]))

    # Pressed after the deadline but before a sweep noticed: the press itself expires it, privately.
    async with running_service(settings, discord_service(fake, serve={"expiry_check_seconds": 60})) as svc:
        task_id, thread_id, confirmation = await blocked_task(fake, svc, model_env, "delete the old logs")
        await asyncio.sleep(0.35)
        late = await press(fake, confirmation, "approve", ALICE)
        answer = callback_of(fake, late)
        assert answer.type == 4 and answer.data["flags"] & FLAG_EPHEMERAL
        assert "expired" in answer.data["content"]
        await wait_status(svc, task_id, TaskStatus.CANCELLED)
        expired = await thread_says(fake, thread_id, "**Expired**")
        assert expired["id"] == confirmation["id"] and expired["components"] == []
    assert "execute" not in model_env.kinds()


async def test_pending_confirmation_survives_a_restart(
    fake: FakeDiscord, settings: Settings, fake_model: FakeModelServer
) -> None:
    service = discord_service(fake, self_approval=True)  # a solo set-up: Alice decides on her own task
    async with running_service(settings, service) as svc:
        task_id, thread_id, confirmation = await blocked_task(fake, svc, fake_model, "migrate the user table")
    sessions = len(fake.gateway_connections)

    # A new process: its client never sent these buttons, only the DynamicItem template can route the press.
    async with running_service(settings, service) as svc:
        assert len(fake.gateway_connections) == sessions + 1
        pressed = await press(fake, confirmation, "approve", ALICE)
        assert callback_of(fake, pressed).type == 6
        await wait_status(svc, task_id, TaskStatus.DONE)
        await thread_says(fake, thread_id, "**Done**")
        decided = await thread_says(fake, thread_id, "**Overridden** by Alice")
        assert decided["id"] == confirmation["id"] and decided["components"] == []
        assert [t["id"] for t in fake.threads()] == [thread_id]


async def test_feedback_buttons_survive_a_restart_and_count_one_changeable_vote_per_person(
    fake: FakeDiscord, settings: Settings, fake_model: FakeModelServer
) -> None:
    fake_model.script.queue("Learnings", scripts.learnings("Koi ponds need shade."))
    service = discord_service(fake)
    async with running_service(settings, service) as svc:
        payload = await think(fake, "write a haiku about koi ponds", skill="self-iterate")
        task_id = await task_of(svc, payload)
        await wait_status(svc, task_id, TaskStatus.DONE)
        conversation = await svc.store.conversations.get(task_id)
        assert conversation is not None and conversation.thread_id is not None
        done = copy.deepcopy(await thread_says(fake, conversation.thread_id, "**Done**"))
        assert [u.skill for u in await svc.store.skill_uses.for_task(task_id)] == ["self-iterate"]
    buttons = buttons_of(done)
    assert [(b["label"], b["style"]) for b in buttons] == [("👍", 2), ("👎", 2)]
    for button in buttons:
        assert re.fullmatch(FEEDBACK_TEMPLATE, button["custom_id"]) and task_id not in button["custom_id"]

    # A new process: only the DynamicItem template can route these presses.
    async with running_service(settings, service) as svc:

        async def vote(action: str, user_id: str) -> str:
            pressed = await press(fake, done, action, user_id)
            answer = callback_of(fake, pressed)
            assert answer.type == 4 and answer.data["flags"] & FLAG_EPHEMERAL, "only the presser sees the answer"
            return str(answer.data["content"])

        assert f"👍 recorded for task {task_id[:8]}" in await vote("up", ALICE)
        figures = await feedback_figures(svc.store, task_id, "self-iterate")
        assert (figures.votes, figures.event, figures.approval, figures.confidences) == (
            {f"discord:{ALICE}": 1}, (1, 0), 1.0, [0.85]
        )  # fmt: skip
        await vote("up", CAROL)  # any member may vote
        assert "changed from 👍 (now 👍 1 · 👎 1)" in await vote("down", ALICE)
        assert "You already voted 👎" in await vote("down", ALICE)
        figures = await feedback_figures(svc.store, task_id, "self-iterate")
        assert (figures.votes, figures.event, figures.approval, figures.confidences) == (
            {f"discord:{ALICE}": -1, f"discord:{CAROL}": 1}, (1, 1), 0.5, [0.8]
        )  # fmt: skip


async def test_redelivered_interaction_makes_one_task(fake: FakeDiscord, settings: Settings) -> None:
    async with running_service(settings, discord_service(fake)) as svc:
        results: list[Reply | None] = []
        handle = svc.ingress.handle

        async def recording(command: InboundCommand) -> Reply | None:
            result = await handle(command)
            results.append(result)
            return result

        svc.ingress.handle = recording  # type: ignore[method-assign]
        payload = await think(fake, "summarise the incident report")
        task_id = await task_of(svc, payload)
        await followup(fake, payload)

        replayed = await fake.replay_last_dispatch()  # gateway RESUME redelivers the interaction
        assert replayed["id"] == payload["id"]
        await fake.push_interaction(payload)  # and a plain second delivery of the same id
        await wait_until(lambda: len(results) == 3)
        assert results[0] is not None and results[1:] == [None, None]

        await wait_status(svc, task_id, TaskStatus.DONE)
        assert len(fake.dispatches("INTERACTION_CREATE")) == 3
        assert [c.type for c in fake.callbacks if c.interaction_id == payload["id"]] == [5]
        assert len(fake.calls_to("POST", f"/webhooks/{fake.application_id}/{payload['token']}")) == 1
        assert [t.id for t in await svc.store.tasks.recent()] == [task_id]
        assert len(fake.threads()) == 1


async def test_long_result_is_split_with_balanced_fences(
    fake: FakeDiscord, settings: Settings, fake_model: FakeModelServer
) -> None:
    code = "\n".join(f"print('line {n:03d}')  # " + "x" * 40 for n in range(60))
    prose = "\n\n".join(f"Paragraph {n}: " + "words " * 30 for n in range(12))
    output = f"# Report\n\n{prose}\n\n```python\n{code}\n```\n\nThe end."
    assert len(output) > 6000
    fake_model.script.queue("execute", ModelReply(content=output))
    async with running_service(settings, discord_service(fake)) as svc:
        task_id = await task_of(svc, await think(fake, "write the long report"))
        await wait_status(svc, task_id, TaskStatus.DONE)
        (thread,) = fake.threads()
        done = await thread_says(fake, str(thread["id"]), "**Done**")
        said = texts(fake, str(thread["id"]))
        start = max(i for i, t in enumerate(said) if t.startswith("**Iteration")) + 1
        chunks = said[start : said.index(done["content"])]
        assert len(chunks) >= 4
        for chunk in chunks:
            assert len(chunk) <= 2000
            assert chunk.count("```") % 2 == 0, chunk
        joined = "\n".join(chunks)
        for n in range(60):
            assert joined.count(f"print('line {n:03d}')") == 1
        assert sum("```" in c for c in chunks) >= 2, "the code block spans messages, re-opened in each"
        assert "The end." in chunks[-1] and "Paragraph 0:" in chunks[0]


async def test_rate_limited_post_waits_without_stalling_interactions(fake: FakeDiscord, settings: Settings) -> None:
    async with running_service(settings, discord_service(fake)) as svc:
        route = f"/channels/{fake.channel_id}/messages"
        fake.fail_next("POST /channels/*/messages", status=429, retry_after=1.0)
        task_id = await task_of(svc, await think(fake, "write the release notes"))
        await fake.wait_for_call("POST", route)  # the parent message: answered 429

        pushed = time.monotonic()
        help_payload = await think(fake, "help", user_id=OWNER)
        await fake.wait_for_call("POST", f"/interactions/{help_payload['id']}/")
        deferred = callback_of(fake, help_payload)
        assert deferred.type == 5 and deferred.at - pushed < 0.5
        assert "/think status" in (await followup(fake, help_payload))["content"]

        await wait_status(svc, task_id, TaskStatus.DONE)
        limited, retried = fake.calls_to("POST", route)[:2]
        assert (limited.status, retried.status) == (429, 200)
        assert retried.at - limited.at >= 0.9, "discord.py must wait out retry_after before retrying"
        assert deferred.at < retried.at, "the other interaction was answered while the post was waiting"
        (thread,) = fake.threads()
        assert fake.message(str(thread["id"])) is not None
        await thread_says(fake, str(thread["id"]), "**Done**")


async def test_help_and_bad_flags_answer_privately(fake: FakeDiscord, settings: Settings) -> None:
    async with running_service(settings, discord_service(fake, guild=False)) as svc:
        (command,) = fake.commands  # no guild_ids: registered globally
        options = {o["name"]: o for o in command["options"]}
        assert options["task"]["required"] is True and options["task"]["type"] == 3
        assert (options["iterations"]["min_value"], options["iterations"]["max_value"]) == (1, 50)
        assert (options["quality"]["min_value"], options["quality"]["max_value"]) == (0.0, 1.0)
        assert not options["simulate"].get("required") and options["simulate"]["type"] == 5

        cases: list[tuple[JSON, str]] = [
            ({"task": "help"}, "/think status [id]"),
            ({"task": "--frobnicate the database"}, "unknown option --frobnicate"),
            ({"task": "tidy the wiki", "budget": -1.0}, "--budget needs a dollar amount"),
            ({"task": "cancel"}, "`cancel` needs a task id"),
        ]
        for options_given, expected in cases:
            payload = await fake.push_interaction(fake.slash_command_interaction("think", options_given))
            answer = await followup(fake, payload)
            assert expected in answer["content"], answer["content"]
            assert answer["flags"] & FLAG_EPHEMERAL
            assert callback_of(fake, payload).type == 5
        # A channel the bot may not write to (slash commands still reach it): said up front, no task.
        muted = fake.slash_command_interaction("think", {"task": "index the archive"})
        muted["app_permissions"] = str(1 << 10)  # View Channel only
        answer = await followup(fake, await fake.push_interaction(muted))
        assert "can't post in this channel" in answer["content"] and answer["flags"] & FLAG_EPHEMERAL

        assert await svc.store.tasks.recent() == []
        assert fake.threads() == [] and fake.calls_to("POST", "/channels/") == []


async def test_options_become_task_limits(fake: FakeDiscord, settings: Settings) -> None:
    async with running_service(settings, discord_service(fake)) as svc:
        payload = await think(fake, "--plan the launch party", simulate=True, iterations=3, quality=0.75, budget=2.5)
        task_id = await task_of(svc, payload)
        task = await svc.store.tasks.get(task_id)
        assert task.description == "--plan the launch party"  # the option text stays verbatim
        o = task.options
        assert (o.simulate, o.max_iterations, o.quality_threshold, o.max_cost_usd) == (True, 3, 0.75, 2.5)
        await wait_status(svc, task_id, TaskStatus.DONE)
        (thread,) = fake.threads()
        await thread_says(fake, str(thread["id"]), "**Simulation**")


def test_think_text_and_thread_names() -> None:
    assert think_text("status") == "status"
    assert think_text("cancel 1a2b3c4d") == "cancel 1a2b3c4d"
    assert think_text("deploy -- now", simulate=True) == "--simulate -- deploy -- now"
    assert think_text("x", iterations=5, quality=1e-05, budget=3.0) == "-i 5 --quality 0.00001 --budget 3.0 -- x"
    assert think_text("x", skill="self-iterate") == "--skill self-iterate -- x"
    assert thread_name("  fix\n the   flaky test  ", "fallback") == "fix the flaky test"
    assert thread_name("--simulate plan the offsite", "fallback") == "plan the offsite"
    assert thread_name("   ", "openkoi task") == "openkoi task"
    long = thread_name("word " * 60, "fallback")
    assert len(long) == 100 and long.endswith("…")


def test_custom_ids_round_trip_and_reject_foreign_payloads() -> None:
    target = "0123456789abcdef"
    for action in ("approve", "deny", "up", "down", "skill_approve", "skill_dismiss", *ACTION_CHOICES):
        encoded = CODEC.encode(Button("label", action, target))
        assert encoded == f"openkoi:{action}:{target}" and CODEC.decode(encoded) == Pressed(action, target)
    assert re.fullmatch(ACTION_TEMPLATE, f"openkoi:act_always:{target}")
    assert re.fullmatch(ACTION_TEMPLATE, f"openkoi:approve:{target}") is None, "each kind has its own template"
    for foreign in (
        f"openkoi:act_maybe:{target}",
        f"openkoi:act_once:{target.upper()}",  # ids are lowercase hex
        f"openkoi:act_once:{target[:-1]}",
        f"openkoi:act_once:{target}:x",
        f"openkoi:act_once:{target}0",
        f"other:act_once:{target}",
        "openkoi:act_once:",
        "",
    ):
        assert CODEC.decode(foreign) is None, foreign
    with pytest.raises(ValueError, match="not an id a button can carry"):
        custom_id("act_deny", "not-hex")


async def test_presses_are_acknowledged_even_when_the_desk_is_slow_or_fails(
    fake: FakeDiscord, settings: Settings, fake_model: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(DiscordAdapter, "press_ack_within", 0.05)
    async with running_service(settings, discord_service(fake, self_approval=True)) as svc:
        task_id, thread_id, confirmation = await blocked_task(fake, svc, fake_model, "reboot the cluster")
        press_desk = svc.desk.decide
        failing = True

        async def slow_press(actor: Actor, confirmation_id: str, approve: bool) -> Reply:
            await asyncio.sleep(0.3)
            if failing:
                raise RuntimeError("database is locked")
            return await press_desk(actor, confirmation_id, approve)

        monkeypatch.setattr(svc.desk, "decide", slow_press)
        broken = await press(fake, confirmation, "approve", ALICE)
        assert callback_of(fake, broken).type == 6  # acknowledged before the desk answered
        assert "went wrong" in (await followup_message(fake, broken))["content"]
        assert (await svc.store.tasks.get(task_id)).status is TaskStatus.AWAITING_CONFIRMATION

        failing = False
        refused = await press(fake, confirmation, "approve", OWNER)  # not the requester, no approvers set
        assert callback_of(fake, refused).type == 6
        refusal = await followup_message(fake, refused)
        assert "Only the person who asked" in refusal["content"] and refusal["flags"] & FLAG_EPHEMERAL

        approved = await press(fake, confirmation, "approve", ALICE)
        assert callback_of(fake, approved).type == 6
        await wait_status(svc, task_id, TaskStatus.DONE)
        await thread_says(fake, thread_id, "**Overridden** by Alice")


async def test_direct_message_replies_in_the_dm_without_a_thread(fake: FakeDiscord, settings: Settings) -> None:
    async with running_service(settings, discord_service(fake, guild=False)) as svc:
        payload = await fake.push_interaction(
            fake.slash_command_interaction("think", {"task": "draft a polite reminder"}, guild_id="")
        )
        task_id = await task_of(svc, payload)
        dm = str(payload["channel_id"])
        await wait_status(svc, task_id, TaskStatus.DONE)
        await thread_says(fake, dm, "**Done**")
        assert fake.threads() == []
        conversation = await svc.store.conversations.get(task_id)
        assert conversation is not None and conversation.thread_id == dm and conversation.channel_id == dm
        parent = next(m for m in fake.channel_messages(dm) if m["content"].startswith("**/think**"))
        await wait_until(lambda: "✅ done" in parent["content"])
