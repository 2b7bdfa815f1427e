"""Sessions and tasks."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.models import LoopDecision, Scope, Session, Task, TaskOptions, TaskStatus, utcnow
from core.store.db import Repository


def _ts(value: datetime) -> str:
    return value.isoformat()


SESSION_INSERT = "INSERT INTO sessions (id, kind, title, status, created_at, updated_at) VALUES (?,?,?,?,?,?)"
TASK_INSERT = """INSERT INTO tasks (id, session_id, description, status, source, requester, options_json,
                                    scope_json, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)"""


def session_row(session: Session) -> tuple[Any, ...]:
    now = _ts(session.created_at)
    return (session.id, session.kind, session.title, session.status, now, now)


def task_row(task: Task) -> tuple[Any, ...]:
    now = _ts(task.created_at)
    return (
        task.id,
        task.session_id,
        task.description,
        task.status.value,
        task.source,
        task.requester,
        task.options.model_dump_json(),
        task.scope.model_dump_json(),
        now,
        now,
    )


@dataclass(frozen=True)
class SessionSummary:
    """A session as ``openkoi session list`` shows it: the session, how many tasks it holds, what they cost."""

    session: Session
    tasks: int
    cost_usd: float


@dataclass(frozen=True)
class TaskTrace:
    """What a task's run recorded beside the ``Task`` itself: how its recall went (None before the
    recall ran) and whether its directive is the static fallback."""

    recall_memories: int | None
    recall_tokens: int | None
    recall_ms: float | None
    directive_fallback: bool


def _session(row: sqlite3.Row) -> Session:
    return Session.model_validate(dict(row))  # the timestamps are parsed from ISO-8601 by the model


class SessionRepository(Repository):
    async def create(self, session: Session) -> Session:
        await self.db.execute(SESSION_INSERT, session_row(session))
        return session

    async def get(self, session_id: str) -> Session:
        row = await self.one("SELECT * FROM sessions WHERE id = ?", (session_id,), f"no session with id '{session_id}'")
        return _session(row)

    async def set_status(self, session_id: str, status: str) -> None:
        await self.db.execute(
            "UPDATE sessions SET status = ?, updated_at = ? WHERE id = ?", (status, _ts(utcnow()), session_id)
        )

    async def recent(self, limit: int = 20) -> list[SessionSummary]:
        """The ``limit`` most recent sessions, newest first."""
        rows = await self.db.fetchall(
            """SELECT s.*, COUNT(DISTINCT t.id) AS tasks,
                      (SELECT COALESCE(SUM(u.cost_usd), 0) FROM usage u
                        JOIN tasks t2 ON t2.id = u.task_id WHERE t2.session_id = s.id) AS cost_usd
               FROM sessions s LEFT JOIN tasks t ON t.session_id = s.id
               GROUP BY s.id ORDER BY s.created_at DESC LIMIT ?""",
            (limit,),
        )
        return [SessionSummary(_session(r), int(r["tasks"]), float(r["cost_usd"])) for r in rows]

    async def delete(self, session_id: str) -> None:
        await self.db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))


def _task_from_row(row: sqlite3.Row) -> Task:
    return Task(
        id=row["id"],
        session_id=row["session_id"],
        description=row["description"],
        status=TaskStatus(row["status"]),
        source=row["source"],
        requester=row["requester"],
        options=TaskOptions.model_validate_json(row["options_json"]),
        scope=Scope.model_validate_json(row["scope_json"]),
        category=row["category"],
        decision=LoopDecision(row["decision"]) if row["decision"] else None,
        score=row["score"],
        iterations=row["iterations"],
        output=row["output"],
        error=row["error"],
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
    )


def _no_task(task_id: str) -> str:
    return f"no task with id '{task_id}'"


class TaskRepository(Repository):
    async def create(self, task: Task) -> Task:
        await self.db.execute(TASK_INSERT, task_row(task))
        return task

    async def get(self, task_id: str) -> Task:
        return _task_from_row(await self.one("SELECT * FROM tasks WHERE id = ?", (task_id,), _no_task(task_id)))

    async def trace(self, task_id: str) -> TaskTrace:
        """The task's recall figures and directive fallback flag; raises NotFound."""
        row = await self.one(
            "SELECT recall_memories, recall_tokens, recall_ms, directive_fallback FROM tasks WHERE id = ?",
            (task_id,),
            _no_task(task_id),
        )
        return TaskTrace(row[0], row[1], row[2], bool(row[3]))

    async def update(self, task_id: str, **fields: Any) -> None:
        """Update named columns; enums and models are stored by value / as JSON."""
        allowed = {
            "status", "category", "decision", "score", "iterations", "output", "error",
            "directive_json", "directive_fallback", "plan_json", "simulation_json",
            "recall_ms", "recall_tokens", "recall_memories",
        }  # fmt: skip
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"not task columns: {sorted(unknown)}")
        values = [getattr(v, "value", v) for v in fields.values()]
        assignments = ", ".join(f"{name} = ?" for name in fields)
        await self.db.execute(
            f"UPDATE tasks SET {assignments}, updated_at = ? WHERE id = ?",
            (*values, _ts(utcnow()), task_id),
        )

    async def set_status(self, task_id: str, status: TaskStatus, error: str | None = None) -> None:
        if error is None:
            await self.update(task_id, status=status)
        else:
            await self.update(task_id, status=status, error=error)

    async def recent(self, session_id: str | None = None, limit: int = 20) -> list[Task]:
        if session_id:
            rows = await self.db.fetchall(
                "SELECT * FROM tasks WHERE session_id = ? ORDER BY created_at DESC LIMIT ?",
                (session_id, limit),
            )
        else:
            rows = await self.db.fetchall("SELECT * FROM tasks ORDER BY created_at DESC LIMIT ?", (limit,))
        return [_task_from_row(r) for r in rows]

    async def unfinished(self) -> list[Task]:
        statuses = TaskStatus.values(TaskStatus.UNFINISHED)
        rows = await self.db.fetchall(
            f"SELECT * FROM tasks WHERE status IN ({','.join('?' * len(statuses))}) ORDER BY created_at", statuses
        )
        return [_task_from_row(r) for r in rows]

    async def counts(self) -> dict[str, int]:
        rows = await self.db.fetchall("SELECT status, COUNT(*) AS n FROM tasks GROUP BY status")
        return {r["status"]: r["n"] for r in rows}

    async def stored_json(self, task_id: str, column: str) -> dict[str, Any] | None:
        """The directive, plan or simulation stored on the task, as the JSON document it is (each stage
        validates it into its own model); None when the stage has not run."""
        if column not in {"directive_json", "plan_json", "simulation_json"}:
            raise ValueError(column)
        row = await self.db.fetchone(f"SELECT {column} FROM tasks WHERE id = ?", (task_id,))
        if row is None or row[0] is None:
            return None
        value: dict[str, Any] = json.loads(row[0])
        return value
