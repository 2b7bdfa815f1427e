"""Writing a task history the way the engine stores it (tasks, cycles, deliberations and votes,
confirmations, model usage, usage events, feedback, memories, task skills), with every timestamp
chosen by the test, so that reflection figures can be checked against hand-computed values."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from core.models import new_id
from core.store.db import Database


@dataclass
class Call:
    model: str
    cost_usd: float
    prompt_tokens: int = 100
    completion_tokens: int = 50
    at: datetime | None = None  # default: when the task ended


@dataclass
class Ballot:
    agency: str
    vote: str
    reason: str = "because"
    caveat: str | None = None
    estimate_usd: float | None = None  # the Economist's cost estimate


@dataclass
class Seeded:
    """One task as the engine would have left it."""

    description: str
    status: str
    ended: datetime
    platform: str = "terminal"
    channel: str | None = None
    decision: str | None = None
    score: float | None = None
    cycle_scores: list[float | None] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    verdict: str | None = None  # approved | guardian_block | dissent_block
    ballots: list[Ballot] = field(default_factory=list)
    confirmation: tuple[str, str | None, datetime] | None = None  # (status, decided_by, decided_at)
    votes: list[tuple[str, int, str | None, datetime]] = field(default_factory=list)  # voter, vote, note, when
    skills: list[str] = field(default_factory=list)
    error: str | None = None
    id: str = field(default_factory=new_id)
    findings: list[tuple[str, str, str, str]] = field(default_factory=list)  # severity, dimension, text, fix
    fail_closed: bool = False  # the deliberation had no usable reply
    simulate: bool = False


class History:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.session = new_id()

    async def start(self) -> History:
        await self.db.execute(
            "INSERT INTO sessions (id, kind, title, status, created_at, updated_at) VALUES (?,?,?,?,?,?)",
            (self.session, "terminal", "", "active", "2026-01-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00"),
        )
        return self

    async def add(self, t: Seeded) -> str:
        ended = t.ended.isoformat()
        scope = json.dumps({"platform": t.platform, "channel": t.channel})
        await self.db.execute(
            """INSERT INTO tasks (id, session_id, description, status, source, requester, options_json, scope_json,
                                  decision, score, iterations, error, created_at, updated_at)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            (t.id, self.session, t.description, t.status, t.platform, None, json.dumps({"simulate": t.simulate}),
             scope, t.decision, t.score, len(t.cycle_scores), t.error, ended, ended),
        )  # fmt: skip
        cycle = None
        for i, score in enumerate(t.cycle_scores, 1):
            cycle = new_id()
            await self.db.execute(
                """INSERT INTO iteration_cycles (id, task_id, iteration, output, output_hash, score, decision, created_at)
                   VALUES (?,?,?,?,?,?,?,?)""",
                (cycle, t.id, i, "out", "h", score, "continue", ended),
            )
        assert cycle is not None or not t.findings, "findings belong to an iteration"
        await self.db.executemany(
            "INSERT INTO findings (cycle_id, task_id, severity, dimension, description, fix) VALUES (?,?,?,?,?,?)",
            [(cycle, t.id, *finding) for finding in t.findings],
        )
        if t.verdict is not None:
            deliberation = new_id()
            await self.db.execute(
                "INSERT INTO deliberations (id, task_id, outcome, reason, fail_closed, created_at) VALUES (?,?,?,?,?,?)",
                (deliberation, t.id, t.verdict, "verdict", int(t.fail_closed), ended),
            )
            await self.db.executemany(
                "INSERT INTO votes (deliberation_id, agency, vote, reason, caveat, estimate_usd) VALUES (?,?,?,?,?,?)",
                [(deliberation, b.agency, b.vote, b.reason, b.caveat, b.estimate_usd) for b in t.ballots],
            )
        if t.confirmation is not None:
            status, by, when = t.confirmation
            await self.db.execute(
                """INSERT INTO confirmations (id, task_id, kind, reason, status, decided_by, decided_at, created_at)
                   VALUES (?,?,?,?,?,?,?,?)""",
                (new_id(), t.id, t.verdict or "guardian_block", "risky", status, by, when.isoformat(), ended),
            )
        for call in t.calls:
            await self.call(call, t.id, t.ended)
        await self.db.executemany(
            "INSERT INTO task_skills (task_id, skill, source, rank, relevance, tokens) VALUES (?,?,?,?,?,?)",
            [(t.id, s, "bundled", n, 0.5, 10) for n, s in enumerate(t.skills, 1)],
        )
        if t.status not in ("queued", "running", "awaiting_confirmation"):
            cost = sum(c.cost_usd for c in t.calls)
            await self.db.execute(
                """INSERT INTO usage_events (task_id, platform, channel, hour, weekday, iterations, score, cost_usd,
                                             outcome, decision, finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)""",
                (t.id, t.platform, t.channel, t.ended.hour, t.ended.weekday(), len(t.cycle_scores), t.score, cost,
                 t.status, t.decision, ended),
            )  # fmt: skip
        for voter, vote, note, when in t.votes:
            await self.db.execute(
                "INSERT INTO feedback (task_id, voter, vote, note, created_at, updated_at) VALUES (?,?,?,?,?,?)",
                (t.id, voter, vote, note, when.isoformat(), when.isoformat()),
            )
        return t.id

    async def call(self, call: Call, task_id: str | None, default: datetime) -> None:
        at = (call.at or default).isoformat()
        await self.db.execute(
            """INSERT INTO usage (task_id, phase, role, model, prompt_tokens, completion_tokens, cost_usd, priced,
                                  latency_ms, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)""",
            (task_id, "execute", "executor", call.model, call.prompt_tokens, call.completion_tokens, call.cost_usd,
             1, 10, at),
        )  # fmt: skip

    async def memory(
        self, text: str, created: datetime, *, used: datetime | None = None, reinforcements: int = 0
    ) -> None:
        await self.db.execute(
            """INSERT INTO memories (id, kind, text, confidence, reinforcements, scope_key, platform,
                                     created_at, last_used_at) VALUES (?,?,?,?,?,?,?,?,?)""",
            (new_id(), "heuristic", text, 0.8, reinforcements, "platform:terminal", "terminal", created.isoformat(),
             (used or created).isoformat()),
        )  # fmt: skip
