"""Digests posted into chat: which (period, platform, channel) was claimed or posted, and the
proposal cards (a skill proposal shown in one message, with buttons that expire)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from core.models import new_id, utcnow
from core.store.db import Repository
from core.store.rows import from_row

DigestPostStatus = Literal["claimed", "posted", "failed"]


@dataclass(frozen=True)
class DigestPost:
    period_key: str
    platform: str
    channel_id: str
    status: DigestPostStatus
    message_ids: tuple[str, ...]
    error: str | None
    claimed_at: str
    finished_at: str | None


@dataclass(frozen=True)
class ProposalCard:
    id: str
    proposal_id: str
    platform: str
    channel_id: str
    message_id: str | None
    expires_at: datetime
    created_at: str


def _post(row: sqlite3.Row) -> DigestPost:
    return from_row(DigestPost, row)


def _card(row: sqlite3.Row) -> ProposalCard:
    return from_row(ProposalCard, row)


class DigestRepository(Repository):
    async def claim(self, period_key: str, platform: str, channel_id: str) -> bool:
        """Claim a channel for a period's digest before posting there; False when it was claimed before.

        Atomic: of two claims exactly one wins. A claim whose post failed before any message went out
        may be claimed again; one that posted anything, or never finished (a crash mid-post), may not,
        since posting again could show the digest twice.
        """
        now = utcnow().isoformat()
        try:
            await self.db.execute(
                "INSERT INTO digest_posts (period_key, platform, channel_id, status, claimed_at)"
                " VALUES (?, ?, ?, 'claimed', ?)",
                (period_key, platform, channel_id, now),
            )
            return True
        except sqlite3.IntegrityError:
            pass
        changed = await self.db.execute(
            """UPDATE digest_posts SET status = 'claimed', error = NULL, claimed_at = ?, finished_at = NULL
               WHERE period_key = ? AND platform = ? AND channel_id = ? AND status = 'failed'
                 AND message_ids_json = '[]'""",
            (now, period_key, platform, channel_id),
        )
        return changed == 1

    async def add_message(self, period_key: str, platform: str, channel_id: str, message_id: str) -> None:
        """Record one more message of the digest as posted (right after the platform accepted it)."""
        await self.db.execute(
            """UPDATE digest_posts SET message_ids_json = json_insert(message_ids_json, '$[#]', ?)
               WHERE period_key = ? AND platform = ? AND channel_id = ?""",
            (message_id, period_key, platform, channel_id),
        )

    async def finish(
        self, period_key: str, platform: str, channel_id: str, status: Literal["posted", "failed"], error: str = ""
    ) -> None:
        await self.db.execute(
            """UPDATE digest_posts SET status = ?, error = ?, finished_at = ?
               WHERE period_key = ? AND platform = ? AND channel_id = ?""",
            (status, error or None, utcnow().isoformat(), period_key, platform, channel_id),
        )

    async def get(self, period_key: str, platform: str, channel_id: str) -> DigestPost | None:
        row = await self.db.fetchone(
            "SELECT * FROM digest_posts WHERE period_key = ? AND platform = ? AND channel_id = ?",
            (period_key, platform, channel_id),
        )
        return _post(row) if row else None

    async def for_period(self, period_key: str) -> list[DigestPost]:
        rows = await self.db.fetchall(
            "SELECT * FROM digest_posts WHERE period_key = ? ORDER BY claimed_at, platform, channel_id", (period_key,)
        )
        return [_post(r) for r in rows]

    # ------------------------------------------------------------------ proposal cards

    async def new_card(self, proposal_id: str, platform: str, channel_id: str, expires_at: datetime) -> ProposalCard:
        """A card for a proposal about to be posted; its id goes into the buttons."""
        card_id = new_id()
        await self.db.execute(
            """INSERT INTO proposal_cards (id, proposal_id, platform, channel_id, expires_at, created_at)
               VALUES (?, ?, ?, ?, ?, ?)""",
            (card_id, proposal_id, platform, channel_id, expires_at.isoformat(), utcnow().isoformat()),
        )
        card = await self.card(card_id)
        assert card is not None  # just inserted
        return card

    async def card_posted(self, card_id: str, message_id: str) -> None:
        await self.db.execute("UPDATE proposal_cards SET message_id = ? WHERE id = ?", (message_id, card_id))

    async def card(self, card_id: str) -> ProposalCard | None:
        row = await self.db.fetchone("SELECT * FROM proposal_cards WHERE id = ?", (card_id,))
        return _card(row) if row else None

    async def cards_for(self, proposal_id: str) -> list[ProposalCard]:
        rows = await self.db.fetchall(
            "SELECT * FROM proposal_cards WHERE proposal_id = ? ORDER BY created_at, rowid", (proposal_id,)
        )
        return [_card(r) for r in rows]
