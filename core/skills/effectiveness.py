"""A skill's measured effectiveness: how the tasks that used it went, by score and by people's votes.

Each finished task that used the skill contributes its final score (0–1) if it was scored, and the
share of 👍 among its votes if anyone voted. The effectiveness is the average of those figures.
For ranking, two imaginary neutral outcomes (0.5) are added, so that one lucky task does not put a
skill ahead of one with a long good record, and an unmeasured skill still gets chosen sometimes.

The figure that ranks a skill is its version's (``of_version``: its source and the content hash of its
SKILL.md), so a skill replaced by another source, or edited, starts again from neutral; the name's
figure over every version (``effectiveness_of``) is what its history says overall.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from core.skills.document import Skill
from core.store.skill_uses import SkillOutcomes, SkillVersion

NEUTRAL = 0.5
NEUTRAL_WEIGHT = 2.0


@dataclass(frozen=True)
class Effectiveness:
    outcomes: SkillOutcomes

    @property
    def samples(self) -> int:
        return self.outcomes.scored + self.outcomes.rated

    @property
    def value(self) -> float | None:
        """The plain average of the skill's scores and approval shares; None before any outcome."""
        o = self.outcomes
        return (o.score_sum + o.approval_sum) / self.samples if self.samples else None

    @property
    def for_ranking(self) -> float:
        o = self.outcomes
        return (o.score_sum + o.approval_sum + NEUTRAL * NEUTRAL_WEIGHT) / (self.samples + NEUTRAL_WEIGHT)

    def describe(self) -> str:
        o = self.outcomes
        if self.value is None:
            used = f"used by {o.tasks} unfinished or unscored task{'s' if o.tasks != 1 else ''}" if o.tasks else ""
            return "not measured yet" + (f" ({used})" if used else "")
        votes = f", 👍 {o.up} / 👎 {o.down}" if o.up or o.down else ""
        return f"{self.value:.2f} ({o.scored} scored task{'s' if o.scored != 1 else ''}{votes})"


def effectiveness_of(name: str, outcomes: dict[str, SkillOutcomes]) -> Effectiveness:
    return Effectiveness(outcomes.get(name) or SkillOutcomes(name))


def version_of(skill: Skill) -> SkillVersion:
    """The version a skill's uses are recorded (and its effectiveness kept) under."""
    return SkillVersion(skill.name, skill.source.value, skill.digest)


def of_version(skill: Skill, outcomes: Mapping[SkillVersion, SkillOutcomes]) -> Effectiveness:
    """The effectiveness of this very version of ``skill`` (see ``SkillUseRepository.version_outcomes``)."""
    return Effectiveness(outcomes.get(version_of(skill)) or SkillOutcomes(skill.name))


def combined(name: str, parts: Iterable[SkillOutcomes]) -> SkillOutcomes:
    """Several records of one name (e.g. its other versions) as one."""
    total = SkillOutcomes(name)
    for o in parts:
        total = SkillOutcomes(
            name,
            total.tasks + o.tasks,
            total.scored + o.scored,
            total.score_sum + o.score_sum,
            total.rated + o.rated,
            total.approval_sum + o.approval_sum,
            total.up + o.up,
            total.down + o.down,
        )
    return total
