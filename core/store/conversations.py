"""Where tasks live in chat: dedupe of inbound deliveries, each task's conversation, posted messages.

The engine never reads these; chat adapters do. Platforms are plain names ("slack", "discord",
"telegram"): nothing here knows a platform's payloads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from core.models import utcnow
from core.store.db import Repository
from core.store.rows import from_row


@dataclass(frozen=True)
class Conversation:
    """A task's place in a chat: its channel, thread and requester."""

    task_id: str
    platform: str
    channel_id: str
    requester_id: str
    requester_name: str
    thread_id: str | None = None
    parent_message_id: str | None = None
    origin: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PostedMessage:
    task_id: str
    slot: str
    platform: str
    channel_id: str
    message_id: str


CONVERSATION_INSERT = """INSERT INTO conversations (task_id, platform, channel_id, thread_id, parent_message_id,
                   requester_id, requester_name, origin_json, created_at) VALUES (?,?,?,?,?,?,?,?,?)"""
DELIVERY_INSERT = "INSERT INTO inbound_deliveries (platform, key, task_id, received_at) VALUES (?,?,?,?)"


def conversation_row(c: Conversation) -> tuple[Any, ...]:
    return (
        c.task_id,
        c.platform,
        c.channel_id,
        c.thread_id,
        c.parent_message_id,
        c.requester_id,
        c.requester_name,
        json.dumps(c.origin),
        utcnow().isoformat(),
    )


class InboundRepository(Repository):
    """Platform delivery keys already taken: a redelivery of the same key is recognised forever
    (until ``purge``), across restarts."""

    async def claim(self, platform: str, key: str) -> bool:
        """Record a delivery that creates no task; False if this key was seen before (a retry or
        replay). Deliveries that create a task are recorded with it by ``IntakeRepository``."""
        changed = await self.db.execute(
            "INSERT OR IGNORE INTO inbound_deliveries (platform, key, received_at) VALUES (?,?,?)",
            (platform, key, utcnow().isoformat()),
        )
        return changed == 1

    async def task_for(self, platform: str, key: str) -> str | None:
        row = await self.db.fetchone(
            "SELECT task_id FROM inbound_deliveries WHERE platform = ? AND key = ?", (platform, key)
        )
        return None if row is None else row["task_id"]

    async def purge(self, older_than: timedelta) -> int:
        cutoff = (utcnow() - older_than).isoformat()
        return await self.db.execute("DELETE FROM inbound_deliveries WHERE received_at < ?", (cutoff,))


class ConversationRepository(Repository):
    async def get(self, task_id: str) -> Conversation | None:
        row = await self.db.fetchone("SELECT * FROM conversations WHERE task_id = ?", (task_id,))
        return None if row is None else from_row(Conversation, row)

    async def set_thread(self, task_id: str, parent_message_id: str, thread_id: str) -> None:
        await self.db.execute(
            "UPDATE conversations SET parent_message_id = ?, thread_id = ? WHERE task_id = ?",
            (parent_message_id, thread_id, task_id),
        )

    async def for_platform(self, platform: str, statuses: tuple[str, ...]) -> list[Conversation]:
        """Conversations of this platform whose task has one of ``statuses`` (oldest first)."""
        marks = ",".join("?" for _ in statuses)
        rows = await self.db.fetchall(
            f"""SELECT c.* FROM conversations c JOIN tasks t ON t.id = c.task_id
                WHERE c.platform = ? AND t.status IN ({marks}) ORDER BY t.created_at""",
            (platform, *statuses),
        )
        return [from_row(Conversation, r) for r in rows]

    async def record_post(self, message: PostedMessage) -> None:
        m = message
        await self.db.execute(
            """INSERT OR REPLACE INTO outbound_messages (task_id, slot, platform, channel_id, message_id, created_at)
               VALUES (?,?,?,?,?,?)""",
            (m.task_id, m.slot, m.platform, m.channel_id, m.message_id, utcnow().isoformat()),
        )

    async def posted(self, task_id: str, slot: str) -> PostedMessage | None:
        row = await self.db.fetchone("SELECT * FROM outbound_messages WHERE task_id = ? AND slot = ?", (task_id, slot))
        if row is None:
            return None
        return PostedMessage(row["task_id"], row["slot"], row["platform"], row["channel_id"], row["message_id"])

    async def posts(self, task_id: str) -> list[PostedMessage]:
        rows = await self.db.fetchall(
            "SELECT * FROM outbound_messages WHERE task_id = ? ORDER BY created_at, rowid", (task_id,)
        )
        return [PostedMessage(r["task_id"], r["slot"], r["platform"], r["channel_id"], r["message_id"]) for r in rows]
