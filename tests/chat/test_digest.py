"""Digests in chat end to end: the whole service in-process, the real slack-bolt / discord.py /
python-telegram-bot against the fakes, hand-built ``Digest`` values (the builder is injected).

Covers posting (split within each platform's limit, headline first, proposals with buttons), the
never-twice rule across failures and restarts, the Approve / Dismiss buttons' rules, `/think digest`,
and the reachability check at start-up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from bots.chat import digest as render
from bots.config import ServiceSettings
from bots.discord.markup import DISCORD
from bots.service import Service
from bots.slack import blocks
from bots.slack.markup import SLACK
from bots.telegram.markup import TELEGRAM
from core.config import Settings
from core.reflection.digest import Digest, DigestKind
from core.reflection.period import Period, last_complete, period_containing
from core.skills import skills_home
from core.text import Section
from tests.chat_service import service_settings, wait_until
from tests.platforms.discord.fake_api import FakeDiscord
from tests.platforms.discord.test_adapter import TOKEN as DISCORD_TOKEN
from tests.platforms.slack.fake_api import (
    CHANNEL_ID,
    FakeSlack,
    SlackMessage,
    block_action_body,
    signed_headers,
    slash_command_body,
)
from tests.platforms.telegram.fake_api import FakeTelegram, utf16_len
from tests.proposals import SKILL, propose

SLACK_TOKEN = "xoxb-test"
SLACK_SECRET = "test-signing-secret"
SLACK_DIGEST = "CDIGEST"
SLACK_OTHER = "CDIGEST2"
GROUP = -100555
APPROVER = "UAPPROVER"
TG_APPROVER = 99
HEADLINE = "Quality rose to 0.91 while cost fell by a third"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

pytestmark = pytest.mark.usefixtures("discord_globals")


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(bot_token=SLACK_TOKEN) as fake:
        yield fake


# ----------------------------------------------------------------------------- helpers


def long_digest(kind: DigestKind, period: Period) -> Digest:
    """A digest long enough that every platform needs several messages for it."""
    sections = tuple(
        Section(
            f"Section {n} <&>",
            tuple(f"Line {n}.{i}: task {i} scored 0.{80 + i % 20} and cost ${i * 0.01:.2f} — fine" for i in range(40)),
        )
        for n in range(4)
    )
    return Digest(kind, period, HEADLINE, {"score": "▁▃▅▇▆▇█", "cost": "█▆▅▃▂▂▁"}, sections)


class Builder:
    """The injected digest builder: records what it was asked for."""

    def __init__(self, empty: bool = False) -> None:
        self.asked: list[tuple[DigestKind, Period]] = []
        self.empty = empty

    async def __call__(self, kind: DigestKind, period: Period) -> Digest:
        self.asked.append((kind, period))
        if self.empty:
            return Digest(kind, period, "No tasks this period.", {}, (), empty=True)
        return long_digest(kind, period)


@asynccontextmanager
async def serving(settings: Settings, service: ServiceSettings, builder: Builder) -> AsyncIterator[Service]:
    svc = Service(settings, service, digest_builder=builder)
    await svc.start()
    try:
        yield svc
    finally:
        await svc.stop()


def slack_section(fake: FakeSlack, approvers: tuple[str, ...] = (APPROVER,)) -> dict[str, Any]:
    return {
        "bot_token": SLACK_TOKEN,
        "signing_secret": SLACK_SECRET,
        "api_url": fake.api_url,
        "access": {"approvers": list(approvers)},
    }


def discord_section(fake: FakeDiscord) -> dict[str, Any]:
    return {
        "bot_token": DISCORD_TOKEN,
        "api_url": fake.api_base,
        "gateway_url": str(fake.gateway_url),
        "guild_ids": [int(fake.guild_id)],
        "access": {"approvers": [FakeDiscord.OWNER_ID]},
    }


def telegram_section(fake: FakeTelegram) -> dict[str, Any]:
    return {"bot_token": fake.token, "api_url": fake.base_url, "access": {"approvers": [str(TG_APPROVER)]}}


def top_level(fake: FakeSlack, channel: str) -> list[SlackMessage]:
    return [m for m in fake.messages if m.channel == channel and m.thread_ts is None]


def slack_buttons(message: SlackMessage) -> list[dict[str, Any]]:
    return [e for b in message.blocks or [] if b["type"] == "actions" for e in b["elements"]]


async def slack_press(
    svc: Service, message: SlackMessage, action_id: str, user_id: str, user_name: str, value: str | None = None
) -> None:
    """Press ``message``'s button; ``value``: a button it showed earlier (a client not refreshed yet)."""
    if value is None:
        (value,) = {e["value"] for e in slack_buttons(message)}
    body = block_action_body(action_id, value, user_id, message.channel, message.ts, user_name=user_name)
    assert (await post_to_slack(svc, body))[0] == 200


async def post_to_slack(svc: Service, body: bytes) -> tuple[int, str]:
    """POST ``body``, signed with the app's secret, to the service's Slack endpoint: the status and the text."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"http://127.0.0.1:{svc.port}/slack/events", data=body, headers=signed_headers(body, SLACK_SECRET)
        ) as resp,
    ):
        return resp.status, await resp.text()


async def readyz(svc: Service) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{svc.port}/readyz") as r:
        return r.status, await r.json()


def installed(settings: Settings, name: str) -> Path:
    return skills_home(settings.home, settings.config_dir) / "skills" / "proposed" / name / "SKILL.md"


# ----------------------------------------------------------------------------- rendering


def test_an_empty_digest_is_its_headline_alone() -> None:
    period = last_complete("day", NOW, ZoneInfo("UTC"))
    empty = Digest("daily", period, "No tasks yesterday.", {}, (), empty=True)
    for m in (SLACK, DISCORD, TELEGRAM):
        (only,) = render.digest_messages(m, empty)
        assert only.splitlines()[0] == f"📊 {m.bold('No tasks yesterday.')}"
        assert "Section" not in only and "▁" not in only


def test_a_long_digest_splits_within_each_limit_headline_first() -> None:
    digest = long_digest("weekly", last_complete("week", NOW, ZoneInfo("UTC")))
    for m in (SLACK, DISCORD, TELEGRAM):
        chunks = render.digest_messages(m, digest)
        assert len(chunks) >= 2, m.limit
        assert chunks[0].startswith(f"📊 {m.bold(HEADLINE)}")
        assert all(render.measure_for(m)(c) <= m.limit for c in chunks)
        assert "Weekly digest · week of 2026-11-23" in chunks[0]
        assert sum(c.count("• Line") for c in chunks) == 160  # every line survives the split, once


# ----------------------------------------------------------------------------- posting


async def test_a_digest_posts_to_every_platform_split_headline_first_and_never_twice(
    settings: Settings, slack: FakeSlack, discord_fake: FakeDiscord, telegram: FakeTelegram
) -> None:
    builder = Builder()
    discord_channel = discord_fake.channel_id
    service = service_settings(
        slack=slack_section(slack),
        discord=discord_section(discord_fake),
        telegram=telegram_section(telegram),
        digest={
            "slack_channels": [SLACK_DIGEST, SLACK_OTHER],
            "discord_channels": [discord_channel],
            "telegram_chats": [str(GROUP)],
        },
    )
    # The Discord channel refuses the first run (a permission missing): nothing goes out there.
    discord_fake.forbid_channel(discord_channel, 50013)
    async with serving(settings, service, builder) as svc:
        proposal = await propose(svc.store)
        assert svc.digests is not None
        # A previous process claimed SLACK_OTHER and was stopped mid-post: it must not be posted again.
        key = last_complete("day", NOW, ZoneInfo("UTC")).key
        assert key == "day:2026-11-30"
        assert await svc.store.digests.claim(key, "slack", SLACK_OTHER)

        outcome = await svc.digests.post_scheduled("daily", NOW)
        assert outcome.startswith("daily digest day:2026-11-30: posted to 2 channels")
        assert f"skipped 1 already claimed (slack {SLACK_OTHER})" in outcome
        assert f"failed 1: discord {discord_channel}" in outcome and "50013" in outcome
        (asked,) = builder.asked
        assert asked[0] == "daily" and asked[1].key == key

        # Slack: top-level messages, each section within 3000, headline first, then the proposal.
        slack_posts = top_level(slack, SLACK_DIGEST)
        assert len(slack_posts) >= 3
        assert (slack_posts[0].text or "").startswith(f"📊 *{HEADLINE}*")
        assert all(len(m.text or "") <= 3000 for m in slack_posts)
        card = slack_posts[-1]
        assert "rotate-staging-certs" in (card.text or "") and f"openkoi learn show {proposal.id}" in (card.text or "")
        assert "support 4" in (card.text or "") and "confidence 0.80" in (card.text or "")
        assert [e["action_id"] for e in slack_buttons(card)] == [
            blocks.PROPOSAL_APPROVE_ACTION,
            blocks.PROPOSAL_DISMISS_ACTION,
        ]
        assert not slack_buttons(slack_posts[0])
        assert top_level(slack, SLACK_OTHER) == []

        # Telegram: plain messages in the group (no reply chain), visible text within 4096.
        tg = telegram.bot_messages(GROUP)
        assert len(tg) >= 3 and tg[0].text.startswith(f"📊 {HEADLINE}")
        assert all(utf16_len(m.text) <= 4096 and m.reply_to is None for m in tg)
        (data,) = {b["callback_data"] for b in tg[-1].buttons if b["text"] == "Approve"}
        assert data.startswith("okp:a:") and len(data.encode()) <= 64 and proposal.id not in data

        assert discord_fake.channel_messages(discord_channel) == []
        rows = {(r.platform, r.channel_id): r for r in await svc.store.digests.for_period(key)}
        assert rows[("slack", SLACK_DIGEST)].status == "posted"
        assert len(rows[("slack", SLACK_DIGEST)].message_ids) == len(slack_posts)
        assert rows[("discord", discord_channel)].status == "failed"
        assert rows[("slack", SLACK_OTHER)].status == "claimed"
        counts = (len(slack.messages), len(telegram.bot_messages(GROUP)))

    # A restart, the permission given back, and the scheduler runs the same digest again.
    del discord_fake._forbidden[discord_channel]
    async with serving(settings, service, builder) as svc:
        assert svc.digests is not None
        outcome = await svc.digests.post_scheduled("daily", NOW + timedelta(hours=2))
        assert "posted to 1 channel," in outcome and "skipped 3 already claimed" in outcome
        assert (len(slack.messages), len(telegram.bot_messages(GROUP))) == counts  # nothing posted twice
        posts = discord_fake.channel_messages(discord_channel)
        assert len(posts) >= 5 and str(posts[0]["content"]).startswith(f"📊 **{HEADLINE}**")
        assert all(len(str(p["content"])) <= 2000 for p in posts)
        custom_ids = [c["custom_id"] for row in posts[-1]["components"] for c in row["components"]]
        assert [c.split(":")[1] for c in custom_ids] == ["skill_approve", "skill_dismiss"]
        again = await svc.digests.post_scheduled("daily", NOW + timedelta(hours=3))
        assert "posted to 0 channels" in again and "skipped 4" in again
        assert len(discord_fake.channel_messages(discord_channel)) == len(posts)


# ----------------------------------------------------------------------------- buttons


async def test_approve_and_dismiss_follow_the_override_rules_on_slack(settings: Settings, slack: FakeSlack) -> None:
    service = service_settings(slack=slack_section(slack), digest={"slack_channels": [SLACK_DIGEST, SLACK_OTHER]})
    async with serving(settings, service, Builder(empty=True)) as svc:
        proposal = await propose(svc.store)
        assert svc.digests is not None
        await svc.digests.post_scheduled("daily", NOW)
        (headline, card) = top_level(slack, SLACK_DIGEST)
        (_, other_card) = top_level(slack, SLACK_OTHER)
        (stale,) = {e["value"] for e in slack_buttons(other_card)}  # pressed after the decision, below
        assert (headline.text or "").startswith("📊 *No tasks this period.*")

        # Not an approver: refused privately, nothing changes.
        await slack_press(svc, card, blocks.PROPOSAL_APPROVE_ACTION, "U0USER", "alice")
        await wait_until(lambda: bool(slack.ephemerals))
        (refusal,) = slack.ephemerals
        assert refusal.ephemeral_to == "U0USER" and "only the approvers configured in [slack.access]" in (
            refusal.text or ""
        )
        assert (await svc.store.proposals.get(proposal.id)).status == "pending"  # type: ignore[union-attr]
        assert not installed(settings, proposal.name).exists() and not card.edited

        # An approver: the skill is installed and the message pressed shows who decided, without buttons.
        await slack_press(svc, card, blocks.PROPOSAL_APPROVE_ACTION, APPROVER, "boss")
        await wait_until(lambda: card.edited)
        assert installed(settings, proposal.name).read_text() == SKILL
        decided = await svc.store.proposals.get(proposal.id)
        assert decided is not None and decided.status == "approved"
        assert decided.decided_by == f"boss (slack:{APPROVER})"
        assert "*Approved* by boss (slack:UAPPROVER)" in (card.text or "") and slack_buttons(card) == []
        assert len(slack.ephemerals) == 1, "a decision is shown by the edit, not privately"
        # The same proposal in the other digest channel shows the decision too: no stale buttons.
        await wait_until(lambda: other_card.edited)
        assert "*Approved* by boss (slack:UAPPROVER)" in (other_card.text or "") and slack_buttons(other_card) == []

        # A press of the other channel's button from before the edit reached the client: refused,
        # saying who decided.
        await slack_press(svc, other_card, blocks.PROPOSAL_DISMISS_ACTION, APPROVER, "boss", value=stale)
        await wait_until(lambda: len(slack.ephemerals) == 2)
        assert "was already approved by boss (slack:UAPPROVER)" in (slack.ephemerals[-1].text or "")
        assert (await svc.store.proposals.get(proposal.id)).status == "approved"  # type: ignore[union-attr]

        # An expired press: refused; the proposal stays pending for `openkoi learn`.
        late = await propose(svc.store, "late-proposal", SKILL.replace("rotate-staging-certs", "late-proposal"))
        await svc.digests.post_on_demand("today", "slack", SLACK_DIGEST, NOW)
        late_card = top_level(slack, SLACK_DIGEST)[-1]
        assert "late-proposal" in (late_card.text or "")
        (card_row,) = await svc.store.digests.cards_for(late.id)
        past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        await svc.store.db.execute("UPDATE proposal_cards SET expires_at = ? WHERE id = ?", (past, card_row.id))
        await slack_press(svc, late_card, blocks.PROPOSAL_APPROVE_ACTION, APPROVER, "boss")
        await wait_until(lambda: len(slack.ephemerals) == 3)
        assert "expired" in (slack.ephemerals[-1].text or "")
        assert f"openkoi learn approve {late.id}" in (slack.ephemerals[-1].text or "")
        assert (await svc.store.proposals.get(late.id)).status == "pending"  # type: ignore[union-attr]
        assert not installed(settings, "late-proposal").exists()


async def test_a_proposal_approved_by_button_never_replaces_a_skill_of_its_name(
    settings: Settings, slack: FakeSlack
) -> None:
    service = service_settings(slack=slack_section(slack), digest={"slack_channels": [SLACK_DIGEST]})
    async with serving(settings, service, Builder(empty=True)) as svc:
        proposal = await propose(svc.store, "self-iterate", SKILL.replace("rotate-staging-certs", "self-iterate"))
        assert svc.digests is not None
        await svc.digests.post_scheduled("daily", NOW)
        (_, card) = top_level(slack, SLACK_DIGEST)
        await slack_press(svc, card, blocks.PROPOSAL_APPROVE_ACTION, APPROVER, "boss")
        await wait_until(lambda: card.edited)
        assert not installed(settings, "self-iterate").exists()
        assert "name: self-iterate-2\n" in installed(settings, "self-iterate-2").read_text()
        text = card.text or ""
        assert "installed as the skill `self-iterate-2`" in text
        assert "Renamed from `self-iterate`: 'self-iterate' is a bundled skill that guards the loop (" in text
        decided = await svc.store.proposals.get(proposal.id)
        assert decided is not None and decided.name == "self-iterate-2"


async def test_discord_and_telegram_presses_reach_the_proposal_desk(
    settings: Settings, discord_fake: FakeDiscord, telegram: FakeTelegram
) -> None:
    service = service_settings(
        discord=discord_section(discord_fake),
        telegram=telegram_section(telegram),
        digest={"discord_channels": [discord_fake.channel_id], "telegram_chats": [str(GROUP)]},
    )
    async with serving(settings, service, Builder(empty=True)) as svc:
        proposal = await propose(svc.store)
        assert svc.digests is not None
        await svc.digests.post_scheduled("weekly", NOW)

        # Telegram: a non-approver gets an alert only they see; then an approver dismisses it.
        tg_card = telegram.bot_messages(GROUP)[-1]
        data = {b["text"]: b["callback_data"] for b in tg_card.buttons}
        refused = telegram.push_callback_query(GROUP, 42, tg_card.message_id, data["Dismiss"], first_name="Alice")
        await wait_until(lambda: telegram.callback_answers.get(telegram.callback_id(refused)) is not None)
        answer = telegram.callback_answers[telegram.callback_id(refused)]
        assert answer is not None and answer["show_alert"] is True and "only the approvers" in answer["text"]
        assert (await svc.store.proposals.get(proposal.id)).status == "pending"  # type: ignore[union-attr]
        message = discord_fake.channel_messages(discord_fake.channel_id)[-1]
        (approve,) = [
            c["custom_id"]
            for row in message["components"]
            for c in row["components"]
            if "skill_approve" in c["custom_id"]
        ]
        # Discord: the DynamicItem routes a press to the desk; a non-approver is refused privately.
        payload = discord_fake.component_interaction(approve, message_id=message["id"], user_id="4242")
        await discord_fake.push_interaction(payload)
        await discord_fake.wait_for_call("POST", f"/interactions/{payload['id']}/")
        (callback,) = [c for c in discord_fake.callbacks if c.interaction_id == payload["id"]]
        assert callback.type == 4 and "only the approvers" in callback.data["content"]
        assert callback.data.get("flags") == 64  # ephemeral: only the presser sees it
        assert (await svc.store.proposals.get(proposal.id)).status == "pending"  # type: ignore[union-attr]

        dismissed = telegram.push_callback_query(
            GROUP, TG_APPROVER, tg_card.message_id, data["Dismiss"], first_name="Boss"
        )
        await wait_until(lambda: telegram.callback_answers.get(telegram.callback_id(dismissed)) is not None)
        await wait_until(lambda: "Dismissed" in telegram.message(GROUP, tg_card.message_id).text)
        assert telegram.message(GROUP, tg_card.message_id).buttons == []
        assert (await svc.store.proposals.get(proposal.id)).status == "dismissed"  # type: ignore[union-attr]
        assert not installed(settings, proposal.name).exists()

        # The card on Discord shows the decision too, without buttons.
        def discord_card() -> dict[str, Any]:
            return next(m for m in discord_fake.channel_messages(discord_fake.channel_id) if m["id"] == message["id"])

        await wait_until(lambda: "Dismissed" in (discord_card().get("content") or ""))
        assert not discord_card().get("components")


# ----------------------------------------------------------------------------- on demand, reachability


async def test_think_digest_today_posts_in_the_channel_where_it_was_asked(settings: Settings, slack: FakeSlack) -> None:
    builder = Builder()
    async with serving(settings, service_settings(slack=slack_section(slack)), builder) as svc:
        body = slash_command_body(text="digest today", trigger_id="trig-digest", response_url=slack.response_url("d"))
        status, text = await post_to_slack(svc, body)
        assert status == 200 and "Posting today's digest" in text
        await wait_until(lambda: len(top_level(slack, CHANNEL_ID)) >= 2)
        posts = top_level(slack, CHANNEL_ID)
        assert (posts[0].text or "").startswith(f"📊 *{HEADLINE}*")
        ((kind, period),) = builder.asked
        assert kind == "daily"
        assert period == period_containing("day", datetime.now(UTC), ZoneInfo(settings.schedule.timezone))
        assert await svc.store.tasks.counts() == {} or sum((await svc.store.tasks.counts()).values()) == 0


async def test_an_unreachable_digest_channel_is_logged_and_listed_in_readyz(
    settings: Settings,
    slack: FakeSlack,
    discord_fake: FakeDiscord,
    telegram: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    slack.refuse_channel("CGONE", "channel_not_found")
    slack.refuse_channel("CNOTIN", "not_in_channel")
    discord_fake.add_text_channel("hidden", "1100000000000000900")
    discord_fake.forbid_channel("1100000000000000900", 50001, "Missing Access")
    telegram.refuse_chat(-100666, 403, "Forbidden: bot was kicked from the supergroup chat")
    service = service_settings(
        slack=slack_section(slack),
        discord=discord_section(discord_fake),
        telegram=telegram_section(telegram),
        digest={
            "slack_channels": [SLACK_DIGEST, "CGONE", "CNOTIN"],
            "discord_channels": [discord_fake.channel_id, "1100000000000000900", "1100000000000000999"],
            "telegram_chats": [str(GROUP), "-100666"],
        },
    )
    caplog.set_level(logging.WARNING, logger="bots.chat.digest_post")
    async with serving(settings, service, Builder()) as svc:
        status, body = await readyz(svc)
        assert status == 200 and body["ready"] is True, body
        listed = [(u["platform"], u["channel"]) for u in body["digest_channels"]["unreachable"]]
        assert listed == [
            ("slack", "CGONE"),
            ("slack", "CNOTIN"),
            ("discord", "1100000000000000900"),
            ("discord", "1100000000000000999"),
            ("telegram", "-100666"),
        ]
        assert body["digest_channels"]["configured"] == 8
        reasons = {u["channel"]: u["reason"] for u in body["digest_channels"]["unreachable"]}
        assert reasons["CGONE"] == "Slack says channel_not_found" and reasons["CNOTIN"] == "Slack says not_in_channel"
        assert "50001" in reasons["1100000000000000900"] and "10003" in reasons["1100000000000000999"]
        assert "kicked" in reasons["-100666"]
        lines = [r.getMessage() for r in caplog.records if r.name == "bots.chat.digest_post"]
        assert len(lines) == 5
        assert lines[0].startswith("digest: cannot post to slack channel CGONE: Slack says channel_not_found. Invite")
        assert all("cannot post to" in line for line in lines)
        await asyncio.sleep(0)


async def test_a_skill_approved_by_button_is_used_by_the_next_matching_task(
    settings: Settings, slack: FakeSlack
) -> None:
    service = service_settings(slack=slack_section(slack), digest={"slack_channels": [SLACK_DIGEST]})
    async with serving(settings, service, Builder(empty=True)) as svc:
        proposal = await propose(svc.store)
        assert svc.digests is not None
        await svc.digests.post_scheduled("daily", NOW)
        (_, card) = top_level(slack, SLACK_DIGEST)
        await slack_press(svc, card, blocks.PROPOSAL_APPROVE_ACTION, APPROVER, "boss")
        await wait_until(lambda: card.edited)

        body = slash_command_body(
            text="plan how to rotate the staging TLS certificates",
            trigger_id="trig-rotate",
            response_url=slack.response_url("r"),
        )
        assert (await post_to_slack(svc, body))[0] == 200

        async def finished() -> list[str]:
            rows = await svc.store.db.fetchall("SELECT id FROM tasks WHERE status = 'done'")
            return [r["id"] for r in rows]

        for _ in range(300):
            if done := await finished():
                break
            await asyncio.sleep(0.05)
        (task_id,) = done
        uses = await svc.store.skill_uses.for_task(task_id)
        assert [(u.skill, u.source) for u in uses if u.skill == proposal.name] == [(proposal.name, "proposed")]


async def test_the_scheduled_daily_digest_job_posts_the_stored_figures_once(
    settings: Settings, slack: FakeSlack
) -> None:
    service = service_settings(slack=slack_section(slack), digest={"slack_channels": [SLACK_DIGEST]})
    svc = Service(settings, service)  # no injected builder: the figures come from the store
    await svc.start()
    try:
        assert svc.schedule is not None
        fire = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
        outcome = await svc.schedule.run_job("daily_digest", "catch-up", fire)
        assert outcome.status == "ok" and outcome.detail.startswith("daily digest day:2026-11-30: posted to 1 channel")
        (headline,) = top_level(slack, SLACK_DIGEST)
        assert (headline.text or "").startswith("📊 *No tasks on Mon 30 Nov.*")
        again = await svc.schedule.run_job("daily_digest", "catch-up", fire)
        assert again.status == "skipped" and len(top_level(slack, SLACK_DIGEST)) == 1
    finally:
        await svc.stop()
