"""Skills for one task: the one a person asked for by name, then the best-ranked relevant ones,
within the task's skill share of tokens, recorded on the task before they are used."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from core.config import SkillSettings
from core.errors import OpenKoiError
from core.skills.catalog import SkillCatalog
from core.skills.document import Skill
from core.skills.effectiveness import of_version
from core.skills.selection import Choice, Injected, fit, rank
from core.skills.similarity import LexicalSimilarity, Similarity
from core.store import Store
from core.store.skill_uses import SkillUse

PROMPT_TITLE = "Skills (follow them where they apply)"


class SkillNotAvailable(OpenKoiError):
    """A skill asked for by name does not exist, may not be asked for, or cannot run here."""


@dataclass(frozen=True)
class ChosenSkills:
    injected: list[Injected]

    @property
    def names(self) -> list[str]:
        return [i.choice.skill.name for i in self.injected]

    @property
    def tokens(self) -> int:
        return sum(i.tokens for i in self.injected)

    @property
    def text(self) -> str:
        """What goes into the plan and execution prompts ("" when no skill was chosen)."""
        return "\n\n".join(i.text for i in self.injected)


def invocable(catalog: SkillCatalog, name: str) -> Skill:
    """The task skill ``name`` for ``--skill``; raises SkillNotAvailable saying why it cannot be used."""
    skill = catalog.task(name)
    if skill is None:
        if catalog.named(name):
            raise SkillNotAvailable(f"'{name}' is an evaluator rubric, not a task skill; see: openkoi skills list")
        names = [s.name for s in catalog.tasks() if s.user_invocable]
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        known = f" Skills you can ask for: {', '.join(names)}." if names else " No skill can be asked for by name."
        raise SkillNotAvailable(f"there is no task skill named '{name}'.{hint}{known}")
    if not skill.user_invocable:
        raise SkillNotAvailable(
            f"the skill '{name}' cannot be asked for by name (user-invocable: false in {skill.path})"
        )
    missing = skill.requirements.missing()
    if missing:
        raise SkillNotAvailable(f"the skill '{name}' cannot run here: it needs {', '.join(missing)}")
    return skill


async def choose_for_task(
    store: Store,
    catalog: SkillCatalog,
    task_id: str,
    description: str,
    *,
    asked_for: str | None,
    token_limit: int,
    settings: SkillSettings,
    category_hint: str | None = None,
    similarity: Similarity | None = None,
) -> ChosenSkills:
    """Choose, fit and record the task's skills. Raises SkillNotAvailable for a bad ``asked_for``."""
    forced = invocable(catalog, asked_for) if asked_for else None
    candidates = [s for s in catalog.tasks() if s.model_invocable and not s.requirements.missing()]
    outcomes = await store.skill_uses.version_outcomes([s.name for s in candidates] + ([forced.name] if forced else []))
    ranked = await rank(
        description,
        [s for s in candidates if forced is None or s.name != forced.name],
        outcomes,
        similarity or LexicalSimilarity(),
        min_relevance=settings.min_relevance,
        category_hint=category_hint,
    )
    chosen: list[Choice] = ranked[: settings.max_per_task]
    if forced is not None:
        chosen = [Choice(forced, 1.0, 1.0, of_version(forced, outcomes), forced=True), *chosen]
        chosen = chosen[: max(settings.max_per_task, 1)]
    injected = fit(chosen, token_limit)
    await store.skill_uses.record(
        task_id,
        [
            SkillUse(
                i.choice.skill.name,
                i.choice.skill.source.value,
                n,
                i.choice.forced,
                i.choice.relevance,
                i.tokens,
                i.choice.skill.digest,
            )
            for n, i in enumerate(injected, 1)
        ],
    )
    return ChosenSkills(injected)
