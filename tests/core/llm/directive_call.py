"""The structured call the gateway tests make: a Directive, asked of the planner role with a one-line prompt."""

from __future__ import annotations

from typing import Any

from core.budget import TaskBudget
from core.llm.gateway import CallContext, ModelGateway
from core.llm.structured import ask
from core.models import Phase, Role
from core.outputs import Directive
from core.prompt import Prompt


async def ask_directive(gateway: ModelGateway, budget: TaskBudget | None = None, **options: Any) -> Directive:
    """``ask`` for a Directive through ``gateway`` (within ``budget``, if given); ``options`` go to ``ask``."""
    return await ask(
        gateway,
        CallContext(None, budget),
        Role.PLANNER,
        Phase.DIRECTIVE,
        Prompt("s").add("", "x"),
        Directive,
        **options,
    )
