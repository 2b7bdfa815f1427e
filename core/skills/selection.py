"""Choosing task skills for a task, and fitting them into their share of the prompt.

A skill is a candidate when it is a task skill, its requirements are met on this machine, and it
has not opted out of automatic selection. It is *relevant* when its text is similar enough to the
task (``min_relevance``) or the task names one of its categories. Relevant skills are ranked by

    0.5 × similarity + 0.2 × category match + 0.3 × effectiveness (for ranking)

so a skill that keeps producing good, well-received results moves ahead of an equally similar one
that does not, while effectiveness alone never brings in a skill unrelated to the task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from core.skills.document import Skill
from core.skills.effectiveness import Effectiveness, of_version
from core.skills.similarity import Similarity, terms
from core.store.skill_uses import SkillOutcomes, SkillVersion
from core.text import CHARS_PER_TOKEN, estimated_tokens

W_SIMILARITY, W_CATEGORY, W_EFFECTIVENESS = 0.5, 0.2, 0.3
MIN_CLIPPED_TOKENS = 60  # a skill cut shorter than this says too little to be worth its place
CLIP_MARK = "\n[… the rest of this skill was cut to fit its share of the prompt …]"


@dataclass(frozen=True)
class Choice:
    skill: Skill
    relevance: float
    category: float
    effectiveness: Effectiveness
    forced: bool = False

    @property
    def score(self) -> float:
        return (
            W_SIMILARITY * self.relevance
            + W_CATEGORY * self.category
            + W_EFFECTIVENESS * self.effectiveness.for_ranking
        )


@dataclass(frozen=True)
class Injected:
    choice: Choice
    text: str
    tokens: int
    clipped: bool


def skill_document(skill: Skill) -> str:
    """What similarity is measured against: the name, description and categories. Not the body: a
    long body shares some word with almost any task, and its author wrote the description to say
    when the skill applies (as OpenClaw's skills do)."""
    return " ".join([skill.name, skill.description, " ".join(skill.categories)])


def category_match(skill: Skill, task_terms: set[str], hint: str | None) -> float:
    """The share of the skill's categories the task names (every word of a category must appear,
    "self-improvement" needs both), or 1 when it is the task's known category."""
    if not skill.categories:
        return 0.0
    if hint is not None and hint.lower() in skill.categories:
        return 1.0
    named = [c for c in skill.categories if (words := terms(c)) and set(words) <= task_terms]
    return len(named) / len(skill.categories)


async def rank(
    task: str,
    skills: Sequence[Skill],
    outcomes: Mapping[SkillVersion, SkillOutcomes],
    similarity: Similarity,
    *,
    min_relevance: float,
    category_hint: str | None = None,
) -> list[Choice]:
    """The relevant skills among ``skills``, best first (ties by name); each weighed by its own version's
    effectiveness (``outcomes`` as ``SkillUseRepository.version_outcomes`` gives them)."""
    if not skills:
        return []
    scores = await similarity.scores(task, [skill_document(s) for s in skills])
    task_terms = set(terms(task))
    choices = []
    for skill, relevance in zip(skills, scores, strict=True):
        category = category_match(skill, task_terms, category_hint)
        if relevance >= min_relevance or category > 0:
            choices.append(Choice(skill, relevance, category, of_version(skill, outcomes)))
    return sorted(choices, key=lambda c: (-c.score, c.skill.name))


def render_skill(skill: Skill) -> str:
    description = f"{skill.description}\n\n" if skill.description else ""
    return f"### {skill.name}\n{description}{skill.body}".strip()


def fit(choices: Sequence[Choice], token_limit: int) -> list[Injected]:
    """The skills, in order, within ``token_limit`` tokens. One that does not fit whole is cut at a
    line end (and marked so) if enough room is left, else left out; the ones after it still get
    their chance. A skill a person asked for by name is never left out: it gets at least
    ``MIN_CLIPPED_TOKENS``, even beyond the share."""
    injected: list[Injected] = []
    left = token_limit
    for choice in choices:
        text = render_skill(choice.skill)
        tokens = estimated_tokens(text)
        clipped = False
        if choice.forced:
            left = max(left, MIN_CLIPPED_TOKENS)
        if tokens > left:
            room = (left - 1) * CHARS_PER_TOKEN - len(CLIP_MARK)
            if left < MIN_CLIPPED_TOKENS or room <= 0:
                continue
            cut = text.rfind("\n", 0, room)
            text = text[: cut if cut > 0 else room].rstrip() + CLIP_MARK
            tokens, clipped = estimated_tokens(text), True
        injected.append(Injected(choice, text, tokens, clipped))
        left = max(left - tokens, 0)
    return injected
