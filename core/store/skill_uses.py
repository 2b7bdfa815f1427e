"""Which task skills each task used, and the outcomes of those tasks per skill and per skill version.

A skill's effectiveness is never stored as a running figure: it is read from these rows joined with
the tasks' final scores and the feedback on them, so every outcome and every changed vote counts at
once, and nothing can drift. Each use is recorded with the skill's version (its source and the content
hash of its SKILL.md), so a replaced or edited skill has a record of its own (``version_outcomes``);
uses recorded before versions were kept have none (``SkillVersion.version`` None: "before versions").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from core.models import TaskStatus
from core.store.db import Repository

# Only a task that has ended has a final score (or a verdict from people) to count; one that ended
# below its quality bar counts with its (low) score, like every other.
_FINISHED = TaskStatus.values(TaskStatus.FINISHED)


@dataclass(frozen=True)
class SkillUse:
    """One skill as chosen for one task (``version``: its SKILL.md's content hash; None before versions)."""

    skill: str
    source: str
    rank: int
    forced: bool
    relevance: float
    tokens: int
    version: str | None = None


class SkillVersion(NamedTuple):
    """One version of a skill: its name, its source and its SKILL.md's content hash. ``version`` None
    (with ``source`` "") is the name's "before versions" bucket: uses recorded before versions were kept."""

    skill: str
    source: str
    version: str | None

    @property
    def before_versions(self) -> bool:
        return self.version is None


@dataclass(frozen=True)
class SkillOutcomes:
    """The finished tasks that used one skill: how many, their scores, and people's votes.

    ``approval_sum`` adds, per task with votes, the share of them that were 👍 (so one task with
    ten voters weighs as much as one with a single voter)."""

    skill: str
    tasks: int = 0
    scored: int = 0
    score_sum: float = 0.0
    rated: int = 0
    approval_sum: float = 0.0
    up: int = 0
    down: int = 0


class SkillUseRepository(Repository):
    async def record(self, task_id: str, uses: Sequence[SkillUse]) -> None:
        """Replace the task's skills with ``uses`` (a resumed task chooses again)."""
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM task_skills WHERE task_id = ?", (task_id,))
            await conn.executemany(
                """INSERT INTO task_skills (task_id, skill, source, rank, forced, relevance, tokens, version)
                   VALUES (?,?,?,?,?,?,?,?)""",
                [(task_id, u.skill, u.source, u.rank, int(u.forced), u.relevance, u.tokens, u.version) for u in uses],
            )

    async def for_task(self, task_id: str) -> list[SkillUse]:
        rows = await self.db.fetchall("SELECT * FROM task_skills WHERE task_id = ? ORDER BY rank", (task_id,))
        return [
            SkillUse(r["skill"], r["source"], r["rank"], bool(r["forced"]), r["relevance"], r["tokens"], r["version"])
            for r in rows
        ]

    async def outcomes(self, skills: Iterable[str] | None = None) -> dict[str, SkillOutcomes]:
        """Outcomes per skill name, every version together (all skills ever used, or only ``skills``);
        absent: never used."""
        rows = await self._outcome_rows(skills, by_version=False)
        return {r["skill"]: _outcomes(r) for r in rows}

    async def version_outcomes(self, skills: Iterable[str] | None = None) -> dict[SkillVersion, SkillOutcomes]:
        """Outcomes per skill version (of all skills ever used, or only those named ``skills``); the uses
        recorded before versions were kept are one bucket per name (``SkillVersion(name, "", None)``)."""
        rows = await self._outcome_rows(skills, by_version=True)
        return {
            SkillVersion(r["skill"], r["source"] if r["version"] is not None else "", r["version"]): _outcomes(r)
            for r in rows
        }

    async def _outcome_rows(self, skills: Iterable[str] | None, *, by_version: bool) -> list[Any]:
        names = sorted(set(skills)) if skills is not None else None
        if names == []:
            return []
        where = f"AND ts.skill IN ({','.join('?' * len(names))})" if names else ""
        marks = ",".join("?" * len(_FINISHED))
        # Before versions, a row's source says nothing about which text it used: one bucket per name.
        key = (
            "ts.skill, CASE WHEN ts.version IS NULL THEN '' ELSE ts.source END, ts.version"
            if by_version
            else "ts.skill"
        )
        return await self.db.fetchall(
            f"""SELECT ts.skill AS skill, MIN(ts.source) AS source, ts.version AS version,
                       COUNT(*) AS tasks, COUNT(t.score) AS scored,
                       COALESCE(SUM(t.score), 0) AS score_sum,
                       COUNT(f.task_id) AS rated,
                       COALESCE(SUM(CAST(f.up AS REAL) / (f.up + f.down)), 0) AS approval_sum,
                       COALESCE(SUM(f.up), 0) AS up, COALESCE(SUM(f.down), 0) AS down
                FROM task_skills ts
                JOIN tasks t ON t.id = ts.task_id AND t.status IN ({marks})
                LEFT JOIN (SELECT task_id, SUM(vote = 1) AS up, SUM(vote = -1) AS down
                             FROM feedback GROUP BY task_id) f ON f.task_id = ts.task_id
                WHERE 1 = 1 {where}
                GROUP BY {key}""",
            (*_FINISHED, *(names or ())),
        )


def _outcomes(r: Any) -> SkillOutcomes:
    return SkillOutcomes(
        r["skill"], r["tasks"], r["scored"], r["score_sum"], r["rated"], r["approval_sum"], r["up"], r["down"]
    )
