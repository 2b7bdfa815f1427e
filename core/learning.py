"""Learning: recall relevant learnings before a task, extract new ones after it."""

from __future__ import annotations

from dataclasses import dataclass

from core.llm.gateway import CallContext, ModelGateway
from core.models import Phase, Role
from core.outputs import Learnings
from core.prompt import Prompt
from core.store.learnings import LearningRepository

CHARS_PER_TOKEN = 4

SYSTEM = """You extract reusable learnings from a finished task: heuristics that worked, anti-patterns \
to avoid, preferences the team showed, and facts worth remembering. Only what would help a future, \
different task; nothing task-specific or obvious. At most five, each one sentence, with your confidence. \
An empty list is a fine answer."""


@dataclass(frozen=True)
class Recall:
    text: str
    ids: list[str]
    tokens: int


async def recall(learnings: LearningRepository, task: str, token_budget: int) -> Recall:
    """Learnings relevant to the task, best first, within ``token_budget`` tokens."""
    lines: list[str] = []
    ids: list[str] = []
    used = 0
    for row in await learnings.search(task, limit=25):
        line = f"- ({row['kind']}, confidence {row['confidence']:.2f}) {row['text']}"
        cost = len(line) // CHARS_PER_TOKEN + 1
        if used + cost > token_budget:
            break
        lines.append(line)
        ids.append(str(row["id"]))
        used += cost
    await learnings.touch(ids)
    return Recall("\n".join(lines), ids, used)


async def extract(gateway: ModelGateway, ctx: CallContext, task: str, history: str) -> Learnings:
    prompt = Prompt(SYSTEM).add("Task", task).add("What happened", history, shrinkable=True)
    return await gateway.structured(ctx, Role.EVALUATOR, Phase.LEARN, prompt, Learnings, max_tokens=800)
