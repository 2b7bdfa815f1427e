"""Skill proposals from mined patterns: one model call drafts a SKILL.md, a template when it cannot.

``run_pattern_mining`` is the scheduler's job and ``openkoi learn mine``: mine, then propose each
new qualifying pattern once. A pattern with a pending or approved proposal is skipped; a dismissed
one is proposed again only when its support has at least doubled since. A pattern that a more
specific one covers (a recurring task that has a time pattern, or is a step of a sequence) is not
proposed on its own. A draft never takes the name of an existing skill (nor of a bundled one that
guards the loop) or of another pattern's proposal: it gets the first free ``<name>-<n>``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from pydantic import BaseModel, Field

from core.config import Settings
from core.errors import ConfigError
from core.llm.structured import ask
from core.memory.embedder import Embedder
from core.models import Phase, Role, utcnow
from core.prompt import Prompt
from core.reflection.mining import mine
from core.reflection.patterns import Pattern
from core.reflection.proposals import check_skill_md, proposed_skill_path, taken_names
from core.skills.catalog import load_catalog, skills_home
from core.store.patterns import PatternRepository
from core.store.proposals import Proposal

if TYPE_CHECKING:
    from core.llm.gateway import ModelGateway
    from core.store import Store

log = logging.getLogger(__name__)

TEMPLATE = "template"
MAX_EVIDENCE = 500  # task ids kept with a proposal; support keeps the full count


class SkillDraft(BaseModel):
    """What the model drafts; openkoi writes the SKILL.md around it."""

    name: str = Field(description="the skill's name: lowercase words joined by dashes, at most 64 characters")
    description: str = Field(description="one sentence: when to use this skill")
    categories: list[str] = Field(default_factory=list, description="two to five lowercase topic words")
    instructions: str = Field(description="Markdown: how to do this task the way the team does it, as steps")


@dataclass
class MiningReport:
    """What one run found and did."""

    patterns: list[Pattern] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (pattern key, why)
    tasks: int = 0
    texts_embedded: int = 0
    texts_pending: int = 0

    @property
    def summary(self) -> str:
        pending = f", {self.texts_pending} waiting for the next run" if self.texts_pending else ""
        return (
            f"pattern mining: {self.tasks} tasks, {len(self.patterns)} patterns, "
            f"{len(self.proposals)} new proposals, {len(self.skipped)} skipped; "
            f"{self.texts_embedded} task texts embedded{pending}"
        )


_WORD = re.compile(r"[a-z0-9]+")
SYSTEM = (
    "You turn a pattern in a team's requests to an AI agent into a reusable task skill: short, concrete "
    "instructions the agent follows the next time the same kind of task comes. Use only what the examples "
    "show; do not invent systems, names or commands they do not mention."
)


def _slug(text: str, words: int = 6) -> str:
    return "-".join(_WORD.findall(text.lower())[:words])[:48].strip("-") or "task"


def template_name(pattern: Pattern) -> str:
    """A slug from the pattern (at most 58 characters, leaving room for a ``-N`` suffix)."""
    if pattern.kind == "time":
        name = _slug(f"{pattern.when.split('(')[0]} {pattern.title}", 8)
    elif pattern.kind == "sequence":
        first, _, then = pattern.title.partition(", then ")
        name = f"{_slug(first, 3)[:26]}-then-{_slug(then, 3)[:26]}"
    else:
        name = _slug(pattern.title)
    return name[:58].strip("-")


def _description(pattern: Pattern) -> str:
    text = {
        "recurring": f"Recurring request: {pattern.title}",
        "time": f"Every {pattern.when.split(' (')[0]}: {pattern.title}",
        "sequence": f"Workflow: {pattern.title}",
    }[pattern.kind]
    return " ".join(text.split())[:200]


def skill_md(name: str, description: str, categories: list[str], body: str) -> str:
    front = {"name": name, "kind": "task", "description": description}
    if categories:
        front["metadata"] = {"categories": categories}  # type: ignore[assignment]
    return f"---\n{yaml.safe_dump(front, sort_keys=False, allow_unicode=True).strip()}\n---\n{body.strip()}\n"


def _evidence_lines(pattern: Pattern) -> str:
    return "\n".join(f'- "{text}"' for text in pattern.examples)


def template_skill(pattern: Pattern, name: str) -> tuple[str, str]:
    """(description, SKILL.md) written from the pattern alone: no model needed."""
    description = _description(pattern)
    kind = {"recurring": "a recurring request", "time": "a request that comes at a regular time",
            "sequence": "two requests that come one after the other"}[pattern.kind]  # fmt: skip
    body = f"""# {pattern.title}

Proposed by openkoi from usage patterns: {kind} ({pattern.support} tasks, confidence {pattern.confidence:.2f}).

## When this applies

{pattern.when}.

## What was asked

{_evidence_lines(pattern)}

## How to do it

1. Do it the way the earlier tasks above were done; reuse their structure and wording.
2. Say what changed since the last time, and anything unusual.
"""
    if pattern.kind == "sequence":
        body += "3. When the first step is done, offer to do the second one straight away.\n"
    return description, skill_md(name, description, [pattern.kind], body)


def _candidate(pattern: Pattern, name: str, description: str, text: str, drafted_by: str) -> Proposal:
    return Proposal(
        id="draft", pattern_key=pattern.key, kind=pattern.kind, name=name, description=description, skill_md=text,
        drafted_by=drafted_by, support=pattern.support, confidence=pattern.confidence, evidence=pattern.evidence,
        status="pending", decided_by=None, decided_at=None, created_at=utcnow().isoformat(),
    )  # fmt: skip


async def _model_draft(gateway: ModelGateway, pattern: Pattern, examples: str) -> tuple[SkillDraft, str] | None:
    """The model's draft and the model's name, or None when the template must draft it."""
    from core.llm.gateway import CallContext

    prompt = Prompt(SYSTEM).add(
        "Pattern",
        f"kind: {pattern.kind}\nwhat: {pattern.title}\nwhen: {pattern.when}\n"
        f"support: {pattern.support} tasks\nconfidence: {pattern.confidence:.2f}",
    )
    prompt.add("Example tasks (when asked, what was asked)", examples, shrinkable=True)
    try:
        draft = await ask(
            gateway, CallContext(None, None), Role.PLANNER, Phase.LEARN, prompt, SkillDraft, max_tokens=1200
        )
        return draft, gateway.ref_for(Role.PLANNER).name
    except Exception as exc:  # no model, unreachable, refused, invalid twice: the template drafts it
        log.info("pattern %s: the model could not draft a skill (%s); using the template", pattern.key, exc)
        return None


def _from_draft(pattern: Pattern, draft: SkillDraft, model: str, name: str) -> tuple[str, str] | None:
    """(description, SKILL.md) from the model's draft, or None when it is not a valid task skill."""
    description = " ".join(draft.description.split())
    categories = [c.strip().lower() for c in draft.categories if c.strip()][:5]
    try:
        proposed_skill_path(Path(), name)  # refuses a name that is not a slug
        text = skill_md(name, description, categories, draft.instructions)
        check_skill_md(_candidate(pattern, name, description, text, model))
    except (ConfigError, yaml.YAMLError) as exc:
        log.info("pattern %s: the model's draft is not a valid skill (%s); using the template", pattern.key, exc)
        return None
    return description, text


def _unique(name: str, taken: dict[str, str], key: str) -> str:
    """``name``, or ``name-2`` …, so that two patterns never install over each other's skill, and no
    proposal is named like an existing skill (those are taken under a key no pattern has)."""
    candidate, n = name, 1
    while taken.get(candidate, key) != key:
        n += 1
        candidate = f"{name[:60]}-{n}"
    return candidate


def _previous(pattern: Pattern, latest: dict[str, Proposal], proposals: list[Proposal]) -> Proposal | None:
    """The proposal made for this pattern before: by key, else (a cluster renamed when its earliest
    task left the lookback window) one of the same kind whose evidence is mostly this pattern's."""
    if pattern.key in latest:
        return latest[pattern.key]
    evidence = set(pattern.evidence)
    for proposal in proposals:  # newest first
        if proposal.kind == pattern.kind and len(evidence & set(proposal.evidence)) * 2 > len(proposal.evidence):
            return proposal
    return None


def _skip_reason(pattern: Pattern, previous: Proposal | None) -> str | None:
    if previous is None:
        return None
    if previous.status in ("pending", "approved"):
        return f"already {previous.status} (proposal {previous.id[:8]})"
    if pattern.support < 2 * previous.support:
        return (
            f"dismissed (proposal {previous.id[:8]} at support {previous.support}); "
            f"support {pattern.support} has not doubled"
        )
    return None


async def run_pattern_mining(
    store: Store,
    settings: Settings,
    embedder: Embedder,
    gateway: ModelGateway | None = None,
    *,
    now: datetime | None = None,
) -> MiningReport:
    """Mine the usage events and propose a skill for each new qualifying pattern.

    ``gateway`` drafts each proposal in one structured call (phase ``learn``, recorded in the usage
    table); without one, or when the call fails or its draft is not a valid task skill, a template
    drafts it (``drafted_by='template'``). Never raises for a model or embedder failure.
    """
    mined = await mine(store.db, settings, embedder, now)
    report = MiningReport(
        patterns=mined.patterns,
        tasks=mined.tasks,
        texts_embedded=mined.texts_embedded,
        texts_pending=mined.texts_pending,
    )
    if gateway is not None and gateway.usage is None:
        gateway = dataclasses.replace(gateway, usage=store.usage)
    covering = {key: p.key for p in mined.patterns for key in p.covers}
    existing = await store.proposals.listed()
    latest: dict[str, Proposal] = {}
    for proposal in existing:  # newest first
        latest.setdefault(proposal.pattern_key, proposal)
    taken = {p.name: p.pattern_key for p in reversed(existing)}
    home = skills_home(settings.home, settings.config_dir)
    catalog = await asyncio.to_thread(load_catalog, home, settings.config_dir, settings.tools.workspace)
    taken |= {name: f"skill:{name}" for name in taken_names(catalog)}
    briefs = PatternRepository(store.db)
    for pattern in mined.patterns:
        if pattern.key in covering:
            report.skipped.append((pattern.key, f"covered by {covering[pattern.key]}"))
            continue
        reason = _skip_reason(pattern, _previous(pattern, latest, existing))
        if reason is not None:
            report.skipped.append((pattern.key, reason))
            continue
        name = _unique(template_name(pattern), taken, pattern.key)
        written = None
        if gateway is not None:
            shown = await briefs.briefs(pattern.evidence[:8])
            examples = "\n".join(f"- {b.created_at[:16]}: {b.text[:300]}" for b in shown)
            drafted = await _model_draft(gateway, pattern, examples)
            if drafted is not None:
                draft, drafted_by = drafted
                drafted_name = _unique(draft.name.strip().lower(), taken, pattern.key)
                written = _from_draft(pattern, draft, drafted_by, drafted_name)
                name = drafted_name if written is not None else name
        if written is None:
            written, drafted_by = template_skill(pattern, name), TEMPLATE
        description, text = written
        check_skill_md(_candidate(pattern, name, description, text, drafted_by))  # the template always passes
        proposal = await store.proposals.add(
            pattern_key=pattern.key, kind=pattern.kind, name=name, description=description, skill_md=text,
            drafted_by=drafted_by, support=pattern.support, confidence=pattern.confidence,
            evidence=pattern.evidence[:MAX_EVIDENCE],
        )  # fmt: skip
        taken[name] = pattern.key
        latest[pattern.key] = proposal
        report.proposals.append(proposal)
    log.info(report.summary)
    return report
