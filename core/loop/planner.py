"""The planner: a real model call that picks the evaluator category and lays out the steps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.errors import StructuredOutputError
from core.llm.gateway import CallContext, ModelGateway
from core.llm.structured import ask
from core.models import Phase, Role
from core.outputs import Plan, PlanStep, plan_schema
from core.prompt import Prompt
from core.skills import RubricSet
from core.skills.use import PROMPT_TITLE as SKILLS_TITLE

FALLBACK_CATEGORY = "general"


@dataclass(frozen=True)
class Planning:
    plan: Plan
    fallback: bool
    error: str | None = None


def fallback_plan(task: str, rubrics: RubricSet) -> Plan:
    """The plan when the planner's reply is unusable: the task as its single step, judged by the
    general rubric. Labelled as a fallback wherever it is shown; never a read-only shortcut."""
    category = FALLBACK_CATEGORY if FALLBACK_CATEGORY in rubrics.rubrics else sorted(rubrics.rubrics)[0]
    return Plan(
        category=category,
        read_only=False,
        read_only_confidence=0,
        steps=[PlanStep(title="Do the task (fallback plan: the planner's reply was unusable)", detail=task)],
        estimated_iterations=1,
    )


SYSTEM = """You plan an engineering agent's work on a task. Choose the evaluator category whose \
description fits the task best (use its exact name), decide whether the task is read-only (it only asks \
a question and changes or produces nothing to be reviewed) and how sure you are of that (0 to 10), lay out \
concrete steps, and estimate how many iterations it will take (1 to 10). Respect the caveats the Parliament raised, and build on the skills you are given where \
they apply."""


def _checker(rubrics: RubricSet) -> Callable[[Plan], None]:
    def check(plan: Plan) -> None:
        if plan.category not in rubrics.rubrics:
            raise ValueError(f"category must be one of {sorted(rubrics.rubrics)}, not {plan.category!r}")

    return check


async def make_plan(
    gateway: ModelGateway,
    ctx: CallContext,
    task: str,
    directive: str,
    caveats: list[str],
    recall: str,
    rubrics: RubricSet,
    skills: str = "",
) -> Planning:
    """A plan from the planner; a reply still invalid after the repair attempt degrades to the
    labelled fallback plan (a weak model should not fail the task here). Model failures propagate.
    ``skills`` is the chosen task skills' text (see ``core.skills.use``), shown to the planner."""
    prompt = Prompt(SYSTEM).add("Task", task).add("Sovereign directive", directive)
    prompt.add("Parliament caveats", "\n".join(f"- {c}" for c in caveats))
    prompt.add(SKILLS_TITLE, skills)
    prompt.add("What the agent remembers", recall, shrinkable=True)
    prompt.add("Evaluator categories", rubrics.menu())
    try:
        plan = await ask(
            gateway,
            ctx,
            Role.PLANNER,
            Phase.PLAN,
            prompt,
            Plan,
            json_schema=plan_schema(sorted(rubrics.rubrics)),
            check=_checker(rubrics),
        )
    except StructuredOutputError as exc:
        return Planning(fallback_plan(task, rubrics), True, exc.detail)
    return Planning(plan, False)


def render(plan: Plan) -> str:
    return "\n".join(f"{n}. {step.title}: {step.detail}" for n, step in enumerate(plan.steps, 1))
