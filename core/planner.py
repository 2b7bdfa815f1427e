"""The planner: a real model call that picks the evaluator category and lays out the steps."""

from __future__ import annotations

from collections.abc import Callable

from core.llm.gateway import CallContext, ModelGateway
from core.models import Phase, Role
from core.outputs import Plan
from core.prompt import Prompt
from core.skills import RubricSet

SYSTEM = """You plan an engineering agent's work on a task. Choose the evaluator category whose \
description fits the task best (use its exact name), decide whether the task is read-only (it only asks \
a question and changes or produces nothing to be reviewed) and how sure you are of that, and lay out \
concrete steps. Respect the caveats the Parliament raised."""


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
) -> Plan:
    prompt = Prompt(SYSTEM).add("Task", task).add("Sovereign directive", directive)
    prompt.add("Parliament caveats", "\n".join(f"- {c}" for c in caveats))
    prompt.add("What the agent remembers", recall, shrinkable=True)
    prompt.add("Evaluator categories", rubrics.menu())
    return await gateway.structured(ctx, Role.PLANNER, Phase.PLAN, prompt, Plan, check=_checker(rubrics))


def render(plan: Plan) -> str:
    return "\n".join(f"{n}. {step.title}: {step.detail}" for n, step in enumerate(plan.steps, 1))
