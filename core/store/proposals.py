"""Skill proposals: rows drafted from usage patterns, each decided once (approve or dismiss)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Literal

from core.models import new_id, utcnow
from core.store.db import Repository
from core.store.rows import from_row

ProposalKind = Literal["recurring", "time", "sequence"]
ProposalStatus = Literal["pending", "approved", "dismissed"]


@dataclass(frozen=True)
class Proposal:
    id: str
    pattern_key: str
    kind: ProposalKind
    name: str
    description: str
    skill_md: str
    drafted_by: str
    support: int
    confidence: float
    evidence: tuple[str, ...]
    status: ProposalStatus
    decided_by: str | None
    decided_at: str | None
    created_at: str


def _proposal(row: sqlite3.Row) -> Proposal:
    return from_row(Proposal, row, support=int, confidence=float)


class ProposalRepository(Repository):
    async def add(
        self,
        *,
        pattern_key: str,
        kind: ProposalKind,
        name: str,
        description: str,
        skill_md: str,
        drafted_by: str,
        support: int,
        confidence: float,
        evidence: tuple[str, ...],
    ) -> Proposal:
        proposal_id = new_id()
        await self.db.execute(
            """INSERT INTO skill_proposals (id, pattern_key, kind, name, description, skill_md, drafted_by,
                   support, confidence, evidence_json, status, created_at)
               VALUES (?,?,?,?,?,?,?,?,?,?,'pending',?)""",
            (
                proposal_id,
                pattern_key,
                kind,
                name,
                description,
                skill_md,
                drafted_by,
                support,
                confidence,
                json.dumps(list(evidence)),
                utcnow().isoformat(),
            ),
        )
        found = await self.get(proposal_id)
        assert found is not None  # just inserted
        return found

    async def get(self, proposal_id: str) -> Proposal | None:
        row = await self.db.fetchone("SELECT * FROM skill_proposals WHERE id = ?", (proposal_id,))
        return _proposal(row) if row else None

    async def find(self, prefix: str) -> list[Proposal]:
        """Proposals whose id starts with ``prefix`` (people type a short unique prefix)."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = await self.db.fetchall(
            "SELECT * FROM skill_proposals WHERE id LIKE ? ESCAPE '\\' ORDER BY created_at", (f"{escaped}%",)
        )
        return [_proposal(r) for r in rows]

    async def listed(self, status: ProposalStatus | None = None) -> list[Proposal]:
        if status is None:
            rows = await self.db.fetchall("SELECT * FROM skill_proposals ORDER BY created_at DESC, id")
        else:
            rows = await self.db.fetchall(
                "SELECT * FROM skill_proposals WHERE status = ? ORDER BY created_at DESC, id", (status,)
            )
        return [_proposal(r) for r in rows]

    async def pending(self) -> list[Proposal]:
        return await self.listed("pending")

    async def decide(
        self,
        proposal_id: str,
        status: Literal["approved", "dismissed"],
        decided_by: str,
        *,
        name: str | None = None,
        skill_md: str | None = None,
    ) -> bool:
        """Move a pending proposal to ``status``; False when it was already decided (single-use). An approval
        may record, in the same change, the name and SKILL.md it was installed under (a renamed proposal)."""
        changed = await self.db.execute(
            """UPDATE skill_proposals SET status = ?, decided_by = ?, decided_at = ?,
                      name = COALESCE(?, name), skill_md = COALESCE(?, skill_md)
               WHERE id = ? AND status = 'pending'""",
            (status, decided_by, utcnow().isoformat(), name, skill_md, proposal_id),
        )
        return changed == 1

    async def reopen(self, proposal_id: str, *, name: str | None = None, skill_md: str | None = None) -> None:
        """Undo an approval whose skill file could not be written, so it can be decided again (with the name
        and SKILL.md it had before, when the approval renamed it)."""
        await self.db.execute(
            """UPDATE skill_proposals SET status = 'pending', decided_by = NULL, decided_at = NULL,
                      name = COALESCE(?, name), skill_md = COALESCE(?, skill_md) WHERE id = ?""",
            (name, skill_md, proposal_id),
        )
