"""What the agent knows of its world, read from the rows that already exist (nothing here is written): per
domain what it did and learnt, per person what they asked, how they rated it and what it learnt of their
preferences, and per tool the workarounds it learnt.

A *domain* is a trust domain (``core.gate.domains``); a task belongs to the domain its plan's category maps
to (the map is the caller's, from the gate's settings), and a memory to the domain of the task that taught it.
A *person* is ``<platform>:<user id>`` as chat feedback and usage events name them; a terminal user is
``terminal:<os user>``. A *workaround* is a heuristic, anti-pattern or fact learnt in a task that called the tool,
whose text names the tool (its full name or its own part: ``git_log`` for ``mcp__git__git_log``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from core.store.db import Repository
from core.store.memories import StoredMemory, memory_of, qualified_columns

TOP = 3  # memories shown per domain or person


@dataclass
class DomainFacts:
    """One domain's tasks, the memories they left, and the actions asked in it."""

    domain: str
    tasks: int = 0
    done: int = 0
    scores: list[float] = field(default_factory=list)
    memories: dict[str, int] = field(default_factory=dict)  # by kind
    top: list[StoredMemory] = field(default_factory=list)  # most confident first
    approvals: dict[str, int] = field(default_factory=dict)  # action approvals asked here, by status

    @property
    def mean_score(self) -> float | None:
        return sum(self.scores) / len(self.scores) if self.scores else None


@dataclass
class PersonFacts:
    """One person: what they asked, how they rated results, and the preferences learnt from their tasks."""

    person: str
    name: str | None = None
    tasks: int = 0
    up: int = 0
    down: int = 0
    notes: list[str] = field(default_factory=list)  # their latest feedback notes, newest first
    preferences: list[StoredMemory] = field(default_factory=list)

    @property
    def activity(self) -> int:
        return self.tasks + self.up + self.down


def person_of(platform: str, requester: str | None) -> str | None:
    """The person key of a usage event's requester (``slack:U1`` already; a terminal user is a bare name)."""
    if not requester:
        return None
    return requester if ":" in requester else f"{platform}:{requester}"


_NAMED = re.compile(r"^(?P<name>.*) \((?P<person>[^()]+:[^()]+)\)$")  # "alice (slack:U0USER)"


def tool_words(tool: str) -> tuple[str, ...]:
    """How a learning may name ``tool``: ``mcp__git__git_log`` as itself, ``git_log`` or ``git log``."""
    own = tool.rsplit("__", 1)[-1]
    return tuple(dict.fromkeys(w.lower() for w in (tool, own, own.replace("_", " "), own.replace("-", " "))))


class WorldRepository(Repository):
    async def domains(self, categories: Mapping[str, str], names: Sequence[str]) -> list[DomainFacts]:
        """Each of ``names`` (and any domain an approval was asked in), with its facts."""
        facts = {name: DomainFacts(name) for name in names}

        def of(domain: str) -> DomainFacts:
            return facts.setdefault(domain, DomainFacts(domain))

        for row in await self.db.fetchall("SELECT category, outcome, score FROM usage_events"):
            domain = categories.get(row["category"] or "")
            if domain is None:
                continue
            found = of(domain)
            found.tasks += 1
            found.done += row["outcome"] == "done"
            if row["score"] is not None:
                found.scores.append(float(row["score"]))
        rows = await self.db.fetchall(
            f"""SELECT t.category AS category, {qualified_columns("m")}
                FROM memories m JOIN tasks t ON t.id = m.source_task_id
                WHERE t.category IS NOT NULL ORDER BY m.confidence DESC, m.seq DESC"""
        )
        for row in rows:
            domain = categories.get(row["category"])
            if domain is None:
                continue
            found = of(domain)
            found.memories[row["kind"]] = found.memories.get(row["kind"], 0) + 1
            if len(found.top) < TOP:
                found.top.append(memory_of(row))
        for row in await self.db.fetchall(
            "SELECT domain, status, COUNT(*) AS n FROM action_approvals GROUP BY domain, status"
        ):
            of(row["domain"]).approvals[row["status"]] = int(row["n"])
        return list(facts.values())

    async def people(self) -> list[PersonFacts]:
        """Everyone who asked or rated something, most active first."""
        facts: dict[str, PersonFacts] = {}

        def of(person: str) -> PersonFacts:
            return facts.setdefault(person, PersonFacts(person))

        for row in await self.db.fetchall(
            "SELECT platform, requester, COUNT(*) AS n FROM usage_events GROUP BY platform, requester"
        ):
            person = person_of(row["platform"], row["requester"])
            if person is not None:
                of(person).tasks += int(row["n"])
        for row in await self.db.fetchall("SELECT voter, vote, note FROM feedback ORDER BY updated_at DESC"):
            found = of(row["voter"])
            if row["vote"] > 0:
                found.up += 1
            else:
                found.down += 1
            if row["note"] and len(found.notes) < TOP:
                found.notes.append(row["note"])
        for row in await self.db.fetchall("SELECT DISTINCT requester FROM tasks WHERE requester LIKE '% (%:%)'"):
            named = _NAMED.match(row["requester"])
            if named is not None and named["person"] in facts:
                facts[named["person"]].name = named["name"]
        preferences = await self.db.fetchall(
            f"""SELECT u.platform AS u_platform, u.requester AS u_requester,
                       {qualified_columns("m")}
                FROM memories m JOIN usage_events u ON u.task_id = m.source_task_id
                WHERE m.kind = 'preference' ORDER BY m.confidence DESC, m.seq DESC"""
        )
        for row in preferences:
            person = person_of(row["u_platform"], row["u_requester"])
            if person is not None and len(of(person).preferences) < 2 * TOP:
                of(person).preferences.append(memory_of(row))
        return sorted(facts.values(), key=lambda p: (-p.activity, p.person))

    async def workarounds(self, tools: Sequence[str], limit: int = TOP) -> dict[str, list[StoredMemory]]:
        """Per tool, the memories that are its workarounds (see the module), most confident
        first."""
        found: dict[str, list[StoredMemory]] = defaultdict(list)
        if not tools:
            return found
        marks = ",".join("?" * len(tools))
        rows = await self.db.fetchall(
            f"""SELECT DISTINCT c.tool AS tool, {qualified_columns("m")}
                FROM memories m JOIN tool_calls c ON c.task_id = m.source_task_id
                WHERE c.tool IN ({marks}) AND m.kind IN ('heuristic', 'anti_pattern', 'fact')
                ORDER BY m.confidence DESC, m.seq DESC""",
            tuple(tools),
        )
        for row in rows:
            text = row["text"].lower()
            if len(found[row["tool"]]) < limit and any(word in text for word in tool_words(row["tool"])):
                found[row["tool"]].append(memory_of(row))
        return found
