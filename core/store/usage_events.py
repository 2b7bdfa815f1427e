"""Usage events: one row per finished task (what kind of task, which skills, where, who, when,
how it went, what it cost, what people said), the raw material of pattern mining and the digests.

Built from the canonical rows (task, conversation, skills, model usage, votes) when the task ends;
the feedback figures then follow the votes through triggers (migration 0005).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from core.models import utcnow
from core.store.db import Repository
from core.store.rows import from_row


@dataclass(frozen=True)
class UsageEvent:
    task_id: str
    category: str | None
    skills: tuple[str, ...]
    platform: str
    channel: str | None
    requester: str | None
    hour: int  # when the task was asked, UTC
    weekday: int  # 0 = Monday, UTC
    iterations: int
    score: float | None
    cost_usd: float
    outcome: str
    decision: str | None
    feedback_up: int
    feedback_down: int
    finished_at: str


def _asked_at(created_at: str) -> datetime:
    try:
        return datetime.fromisoformat(created_at).astimezone(UTC)
    except ValueError:  # not written by openkoi; the event still counts, at the time it ends
        return utcnow()


class UsageEventRepository(Repository):
    async def record(self, task_id: str) -> UsageEvent:
        """Write (or rewrite: a task ends once, but a cancellation may race its end) the task's event."""
        task = await self.one("SELECT * FROM tasks WHERE id = ?", (task_id,), f"no task with id '{task_id}'")
        conversation = await self.db.fetchone(
            "SELECT platform, channel_id, requester_id FROM conversations WHERE task_id = ?", (task_id,)
        )
        skills = [
            r[0]
            for r in await self.db.fetchall("SELECT skill FROM task_skills WHERE task_id = ? ORDER BY rank", (task_id,))
        ]
        cost = await self.db.fetchone("SELECT COALESCE(SUM(cost_usd), 0) FROM usage WHERE task_id = ?", (task_id,))
        votes = await self.db.fetchone(
            "SELECT COALESCE(SUM(vote = 1), 0), COALESCE(SUM(vote = -1), 0) FROM feedback WHERE task_id = ?", (task_id,)
        )
        if conversation is not None:
            platform, channel = conversation["platform"], conversation["channel_id"]
            requester: str | None = f"{platform}:{conversation['requester_id']}"
        else:
            platform, channel, requester = task["source"], None, task["requester"]
        asked = _asked_at(task["created_at"])
        event = UsageEvent(
            task_id=task_id,
            category=task["category"],
            skills=tuple(skills),
            platform=platform,
            channel=channel,
            requester=requester,
            hour=asked.hour,
            weekday=asked.weekday(),
            iterations=task["iterations"],
            score=task["score"],
            cost_usd=float(cost[0]) if cost else 0.0,
            outcome=task["status"],
            decision=task["decision"],
            feedback_up=int(votes[0]) if votes else 0,
            feedback_down=int(votes[1]) if votes else 0,
            finished_at=utcnow().isoformat(),
        )
        row = (
            event.task_id, event.category, json.dumps(list(event.skills)), event.platform, event.channel,
            event.requester, event.hour, event.weekday, event.iterations, event.score, event.cost_usd,
            event.outcome, event.decision, event.feedback_up, event.feedback_down, event.finished_at,
        )  # fmt: skip
        await self.db.execute(
            """INSERT INTO usage_events (task_id, category, skills_json, platform, channel, requester, hour, weekday,
                                         iterations, score, cost_usd, outcome, decision, feedback_up, feedback_down,
                                         finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
               ON CONFLICT (task_id) DO UPDATE SET category = excluded.category, skills_json = excluded.skills_json,
                   iterations = excluded.iterations, score = excluded.score, cost_usd = excluded.cost_usd,
                   outcome = excluded.outcome, decision = excluded.decision, feedback_up = excluded.feedback_up,
                   feedback_down = excluded.feedback_down, finished_at = excluded.finished_at""",
            row,
        )
        return event

    async def get(self, task_id: str) -> UsageEvent | None:
        row = await self.db.fetchone("SELECT * FROM usage_events WHERE task_id = ?", (task_id,))
        if row is None:
            return None
        return from_row(UsageEvent, row)

    async def count(self) -> int:
        row = await self.db.fetchone("SELECT COUNT(*) FROM usage_events")
        return int(row[0]) if row else 0
