"""Learning: extract reusable learnings from a finished task (core.memory stores and recalls them)."""

from __future__ import annotations

from core.llm.gateway import CallContext, ModelGateway
from core.llm.structured import ask
from core.models import Phase, Role
from core.outputs import Learnings
from core.prompt import Prompt

SYSTEM = """You extract reusable learnings from a finished task: heuristics that worked, anti-patterns \
to avoid, preferences the team showed, and facts worth remembering. Only what would help a future, \
different task; nothing task-specific or obvious. At most five, each one sentence, with your confidence \
from 0 (a guess) to 10 (certain). An empty list is a fine answer."""


async def extract(gateway: ModelGateway, ctx: CallContext, task: str, history: str) -> Learnings:
    prompt = Prompt(SYSTEM).add("Task", task).add("What happened", history, shrinkable=True)
    return await ask(gateway, ctx, Role.EVALUATOR, Phase.LEARN, prompt, Learnings, max_tokens=800)
