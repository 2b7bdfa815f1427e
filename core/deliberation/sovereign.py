"""The Sovereign: frames a task with the team's values in one short directive call."""

from __future__ import annotations

from dataclasses import dataclass

from core.deliberation.soul import Soul
from core.errors import ModelCallError, StructuredOutputError
from core.llm.gateway import CallContext, ModelGateway
from core.llm.structured import ask
from core.models import Phase, Role
from core.outputs import Directive
from core.prompt import Prompt

SYSTEM = (
    "You are the Sovereign of an engineering team's agent: you hold the team's values. Given the team's "
    "SOUL and a task, say in a few words how this team would approach it, what a good result looks like "
    "here, and any constraints the values imply. Do not solve the task."
)

# Shown (and labelled) when the directive call fails: the task still runs, framed by the soul alone.
FALLBACK = Directive(
    stance="Careful, correct, concise (static fallback: the directive call failed)",
    good_looks_like=["The result does exactly what was asked, correctly and safely."],
    constraints=["Nothing irreversible without explicit confirmation."],
)


@dataclass(frozen=True)
class Framing:
    directive: Directive
    fallback: bool
    error: str | None = None


async def frame(gateway: ModelGateway, ctx: CallContext, soul: Soul, task: str, recall: str) -> Framing:
    prompt = Prompt(SYSTEM).add("SOUL", soul.text, shrinkable=True).add("Task", task)
    prompt.add("What the agent remembers", recall, shrinkable=True)
    try:
        directive = await ask(gateway, ctx, Role.PLANNER, Phase.DIRECTIVE, prompt, Directive, max_tokens=600)
    except StructuredOutputError as exc:
        return Framing(FALLBACK, True, str(exc))
    except ModelCallError as exc:
        if exc.unavailable:
            raise  # no model to deliberate or work with either: the task fails now, honestly
        return Framing(FALLBACK, True, str(exc))
    return Framing(directive, False)


def render(directive: Directive) -> str:
    lines = [f"Stance: {directive.stance}", "What good looks like:"]
    lines += [f"- {item}" for item in directive.good_looks_like]
    if directive.constraints:
        lines.append("Constraints:")
        lines += [f"- {item}" for item in directive.constraints]
    return "\n".join(lines)
