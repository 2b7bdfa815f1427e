"""Posting reflection digests into the chats listed in ``[digest]``, and checking those chats are reachable.

``post_scheduled`` is what the scheduler calls once per run: it reports the last complete day or week
(``core.reflection.period.last_complete``) and posts it **at most once** per (period, platform,
channel): each channel is claimed in SQLite before anything is posted there, so a run repeated after
a crash or a restart skips (and logs) the channels already claimed and posts only the rest. A channel
whose post failed before any message went out is tried again by the next run.

``request`` serves `/think digest [today|week]`: the current day or week so far, posted in the
channel where it was asked, without dedupe (asking twice posts twice).

A digest's pending skill proposals follow its own messages, one message each with Approve / Dismiss
buttons carrying only the id of a *card* (that proposal in that message), which expires
``proposal_ttl_hours`` after it was posted (``bots.chat.proposal_desk`` decides the presses).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bots.chat import digest as render
from bots.chat.asked import Running, post_as_asked
from bots.chat.commands import DigestSpan as Span
from bots.chat.pacing import Pacer
from bots.chat.platform import Button, CannotPost, ChatPlatform, Outgoing
from bots.config import DigestSettings
from core.models import utcnow
from core.reflection.digest import Digest, DigestKind
from core.reflection.period import Period, PeriodKind, last_complete, period_containing
from core.store import Store
from core.store.proposals import Proposal

log = logging.getLogger(__name__)

# Computes a digest of ``period`` from the store (``core.reflection.digest.build_digest``, adapted).
DigestBuilder = Callable[[DigestKind, Period], Awaitable[Digest]]

PERIOD_OF: dict[DigestKind, PeriodKind] = {"daily": "day", "weekly": "week"}
KIND_OF: dict[Span, DigestKind] = {"today": "daily", "week": "weekly"}
CHECK_WITHIN_SECONDS = 10.0


@dataclass(frozen=True)
class Unreachable:
    """A configured digest channel the bot cannot post in, as start-up found it."""

    platform: str
    channel: str
    reason: str
    remedy: str

    def as_json(self) -> dict[str, str]:
        return {"platform": self.platform, "channel": self.channel, "reason": self.reason, "remedy": self.remedy}


@dataclass
class DigestPoster:
    store: Store
    # The adapters by name (the service's live dict: a platform that starts late is found there).
    platforms: Mapping[str, ChatPlatform]
    settings: DigestSettings
    build: DigestBuilder
    tz: ZoneInfo
    pacer: Pacer = field(default_factory=Pacer)
    unreachable: list[Unreachable] = field(default_factory=list)
    _asked: Running = field(default_factory=Running)

    def targets(self) -> list[tuple[str, str]]:
        """Every configured (platform, channel), in configuration order."""
        return self.settings.targets()

    # ------------------------------------------------------------------ scheduled

    async def post_scheduled(self, kind: DigestKind, now: datetime) -> str:
        """Post the digest of the last complete day (``daily``) or week (``weekly``) before ``now`` to
        every configured channel not yet claimed for that period; return a one-line outcome.

        Raises only if the digest cannot be built (then nothing was claimed or posted)."""
        period = last_complete(PERIOD_OF[kind], now, self.tz)
        targets = self.targets()
        if not targets:
            return f"{kind} digest {period.key}: no [digest] channels configured"
        digest = await self.build(kind, period)
        proposals = await self.store.proposals.pending()
        posted: list[str] = []
        skipped: list[str] = []
        failed: list[str] = []
        for name, channel in targets:
            where = f"{name} {channel}"
            platform = self.platforms.get(name)
            if platform is None:
                failed.append(f"{where} (platform off)")
                log.warning("%s digest %s: not posted to %s: %s is off", kind, period.key, where, name)
                continue
            if not await self.store.digests.claim(period.key, name, channel):
                skipped.append(where)
                log.info("%s digest %s: %s was already claimed; skipping it", kind, period.key, where)
                continue

            async def record(message_id: str, name: str = name, channel: str = channel) -> None:
                await self.store.digests.add_message(period.key, name, channel, message_id)

            try:
                await self._post(platform, channel, digest, proposals, record)
            except CannotPost as exc:
                await self.store.digests.finish(period.key, name, channel, "failed", exc.reason)
                failed.append(f"{where} ({exc.reason})")
                log.warning("%s digest %s: %s refused it: %s. %s", kind, period.key, where, exc.reason, exc.remedy)
                continue
            except Exception as exc:
                await self.store.digests.finish(period.key, name, channel, "failed", repr(exc))
                failed.append(f"{where} ({exc!r})")
                log.exception("%s digest %s: posting to %s failed", kind, period.key, where)
                continue
            await self.store.digests.finish(period.key, name, channel, "posted")
            posted.append(where)
        line = f"{kind} digest {period.key}: posted to {len(posted)} channel{'s' if len(posted) != 1 else ''}"
        if skipped:
            line += f", skipped {len(skipped)} already claimed ({', '.join(skipped)})"
        if failed:
            line += f", failed {len(failed)}: {'; '.join(failed)}"
        return line

    # ------------------------------------------------------------------ on demand

    def request(self, span: Span, platform: str, channel: str) -> None:
        """`/think digest today|week`: post the current day or week so far in ``channel``, in the
        background (the command is answered at once). Failures are logged."""
        self._asked.start(self.post_on_demand(span, platform, channel, utcnow()))

    async def post_on_demand(self, span: Span, platform_name: str, channel: str, now: datetime) -> bool:
        """Post the current day or week (so far) in one channel; True when it was posted."""
        kind = KIND_OF[span]
        platform = self.platforms.get(platform_name)
        if platform is None:
            return False
        period = period_containing(PERIOD_OF[kind], now, self.tz)

        async def post() -> None:
            digest = await self.build(kind, period)
            proposals = await self.store.proposals.pending()
            await self._post(platform, channel, digest, proposals, _nothing)

        return await post_as_asked("the digest", platform_name, channel, post())

    async def close(self) -> None:
        await self._asked.close()

    # ------------------------------------------------------------------ posting

    async def _post(
        self,
        platform: ChatPlatform,
        channel: str,
        digest: Digest,
        proposals: list[Proposal],
        record: Callable[[str], Awaitable[None]],
    ) -> None:
        m = platform.markup
        for text in render.digest_messages(m, digest):
            await self._send(platform, channel, Outgoing(text), record)
        ttl = self.settings.proposal_ttl_hours
        for proposal in proposals:
            card = await self.store.digests.new_card(
                proposal.id, platform.name, channel, utcnow() + timedelta(hours=ttl)
            )
            buttons = (Button("Approve", "skill_approve", card.id), Button("Dismiss", "skill_dismiss", card.id))
            message_id = await self._send(
                platform, channel, Outgoing(render.proposal_card(m, proposal, ttl), buttons), record
            )
            await self.store.digests.card_posted(card.id, message_id)

    async def _send(
        self, platform: ChatPlatform, channel: str, message: Outgoing, record: Callable[[str], Awaitable[None]]
    ) -> str:
        await self.pacer.turn(platform.name, channel, platform.pace(channel))
        message_id = await platform.post_to_channel(channel, message)
        await record(message_id)
        return message_id

    # ------------------------------------------------------------------ reachability

    async def check_channels(self, off: Mapping[str, str]) -> list[Unreachable]:
        """Check every configured channel once (the platform's cheapest real call), log one WARNING
        line for each the bot cannot post in, and remember them (``unreachable``) for /readyz."""
        found: list[Unreachable] = []

        async def check(name: str, channel: str) -> None:
            platform = self.platforms.get(name)
            if platform is None:
                why = off.get(name, "not configured")
                found.append(
                    Unreachable(name, channel, f"{name} is off ({why})", f"Configure {name} (see the README).")
                )
                return
            try:
                async with asyncio.timeout(CHECK_WITHIN_SECONDS):
                    problem = await platform.check_channel(channel)
            except Exception as exc:  # a timeout or an outage says nothing about the channel itself
                log.info("digest: could not check %s channel %s: %r", name, channel, exc)
                return
            if problem is not None:
                found.append(Unreachable(name, channel, problem.reason, problem.remedy))

        await asyncio.gather(*(check(name, channel) for name, channel in self.targets()))
        order = {target: i for i, target in enumerate(self.targets())}
        found.sort(key=lambda u: order.get((u.platform, u.channel), 0))
        for u in found:
            log.warning("digest: cannot post to %s channel %s: %s. %s", u.platform, u.channel, u.reason, u.remedy)
        self.unreachable = found
        return found


async def _nothing(message_id: str) -> None:
    return None


def stored_digest_builder(store: Store) -> DigestBuilder:
    """``core.reflection.digest.digest_of`` over this store, as a ``DigestBuilder``."""
    from core.reflection.digest import digest_of

    async def builder(kind: DigestKind, period: Period) -> Digest:
        return await digest_of(store.db, kind, period, now=utcnow())

    return builder
