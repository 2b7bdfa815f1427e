"""The gate's audit ledger: one typed row per gate decision and per trust change, metadata only.

What a row may hold is fixed by ``AuditEntry``'s fields: ids, rule ids with their descriptions, domains,
each agency's vote (never its reason), levels, who decided and the outcome. Nothing here takes free text
from a model; a grant's reason is a person's, stored redacted. Rows are removed only by ``prune``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from core.models import new_id, utcnow
from core.store.db import Database
from core.store.rows import from_row

AuditKind = Literal["task", "action", "grant", "revoke"]


@dataclass(frozen=True)
class AuditRule:
    rule: str
    domain: str
    description: str


@dataclass(frozen=True)
class AuditVote:
    agency: str
    vote: str


@dataclass(frozen=True)
class AuditInvalid:
    """A ballot that did not count, and why (the gate's words, not the model's)."""

    agency: str
    why: str


@dataclass(frozen=True)
class AuditAction:
    """What an action's row is about: the tool, its class and who set it, the call's fingerprint (a hash of
    the exact tool and arguments) and its redacted preview (never the arguments themselves), the [tools]
    pattern or team rule that decided, the standing grant or approval involved, and how long it ran."""

    tool: str
    effect: str
    source: str
    fingerprint: str
    preview: str
    rule: str | None = None
    grant: str | None = None
    approval: str | None = None
    duration_ms: float | None = None


@dataclass(frozen=True)
class AuditEntry:
    kind: AuditKind
    outcome: str
    task_id: str | None = None
    domains: tuple[str, ...] = ()
    rules: tuple[AuditRule, ...] = ()
    votes: tuple[AuditVote, ...] = ()
    invalid: tuple[AuditInvalid, ...] = ()
    assessment: str | None = None
    level: str | None = None
    block: str | None = None
    decided_by: str | None = None
    category: str | None = None
    category_domain: str | None = None
    simulated: bool = False
    note: str | None = None
    action: AuditAction | None = None  # kind "action" only
    id: str = field(default_factory=new_id)
    at: datetime = field(default_factory=utcnow)


def _listed(kind: Callable[..., Any]) -> Callable[[str], tuple[Any, ...]]:
    """A JSON list column read back as a tuple of ``kind``, each item a dict of its fields (see ``_json``)."""
    return lambda document: tuple(kind(**item) for item in json.loads(document))


def _entry(row: sqlite3.Row) -> AuditEntry:
    return from_row(
        AuditEntry,
        row,
        domains=lambda document: tuple(json.loads(document)),
        rules=_listed(AuditRule),
        votes=_listed(AuditVote),
        invalid=_listed(AuditInvalid),
        action=lambda fields: AuditAction(**fields),
    )


def _json(items: tuple[Any, ...]) -> str:
    return json.dumps([item if isinstance(item, str) else item.__dict__ for item in items], ensure_ascii=False)


class AuditRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, entry: AuditEntry) -> AuditEntry:
        await self.db.execute(
            """INSERT INTO gate_audit (id, at, kind, task_id, domains, rules, votes, invalid, assessment, level,
                   outcome, block, decided_by, category, category_domain, simulated, note, action_json)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            (
                entry.id, entry.at.isoformat(), entry.kind, entry.task_id, _json(entry.domains), _json(entry.rules),
                _json(entry.votes), _json(entry.invalid), entry.assessment, entry.level, entry.outcome, entry.block,
                entry.decided_by, entry.category, entry.category_domain, int(entry.simulated), entry.note,
                json.dumps(entry.action.__dict__, ensure_ascii=False) if entry.action is not None else None,
            ),
        )  # fmt: skip
        return entry

    async def for_task(self, task_id: str) -> list[AuditEntry]:
        """A task's rows, oldest first."""
        rows = await self.db.fetchall("SELECT * FROM gate_audit WHERE task_id = ? ORDER BY at, seq", (task_id,))
        return [_entry(row) for row in rows]

    async def decision_for(self, task_id: str) -> AuditEntry | None:
        """The gate's own (first) decision on a task, before any person's."""
        row = await self.db.fetchone(
            """SELECT * FROM gate_audit WHERE task_id = ? AND kind = 'task'
               AND outcome IN ('proceeded', 'suggest', 'blocked', 'autonomous') ORDER BY at DESC, seq DESC LIMIT 1""",
            (task_id,),
        )
        return _entry(row) if row else None

    async def note_category(self, task_id: str, category: str, domain: str | None) -> None:
        """Fill in the plan's category (and its domain) on the task's decisions, once it is planned: the gate
        decides before the plan exists."""
        await self.db.execute(
            "UPDATE gate_audit SET category = ?, category_domain = ? WHERE task_id = ? AND category IS NULL",
            (category, domain, task_id),
        )

    async def entries(
        self, domain: str | None = None, since: datetime | None = None, limit: int = 50
    ) -> list[AuditEntry]:
        """The latest ``limit`` rows (about ``domain``, from ``since``), oldest first. A row is about a domain
        when the floor matched it, a grant changed it, or the plan's category belongs to it."""
        where, params = ["1 = 1"], []
        if domain is not None:
            where.append(
                "(category_domain = ? OR EXISTS (SELECT 1 FROM json_each(gate_audit.domains) WHERE value = ?))"
            )
            params += [domain, domain]
        if since is not None:
            where.append("at >= ?")
            params.append(since.isoformat())
        rows = await self.db.fetchall(
            f"SELECT * FROM gate_audit WHERE {' AND '.join(where)} ORDER BY at DESC, seq DESC LIMIT ?",
            (*params, limit),
        )
        return [_entry(row) for row in reversed(rows)]

    async def prune(self, before: datetime) -> int:
        """Delete the rows older than ``before``; how many went."""
        return await self.db.execute("DELETE FROM gate_audit WHERE at < ?", (before.isoformat(),))
