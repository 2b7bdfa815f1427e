"""``--simulate``: the pipeline without execution — possible futures, a recommendation, its champion
and its dissent."""

from __future__ import annotations

from core.llm.gateway import CallContext, ModelGateway
from core.llm.structured import ask
from core.models import Phase, Role
from core.outputs import Simulation
from core.prompt import Prompt

SYSTEM = """You simulate, without acting, what could happen if the agent carried out a task. Describe at \
least two distinct futures (different ways of doing it, or not doing it), each with the action, its \
consequence, the likely response of the people affected, and its risk (LOW/MEDIUM/HIGH). Recommend one \
future by its label, name the agency that champions it (guardian, economist, empath, scholar, strategist) \
and, if any agency would dissent, which one and why."""


def _check(simulation: Simulation) -> None:
    labels = [f.label for f in simulation.futures]
    if len(set(labels)) != len(labels):
        raise ValueError(f"each future needs its own label; got {labels}")
    if simulation.recommendation not in labels:
        raise ValueError(f"recommendation must be one of the future labels {labels}")


async def simulate(gateway: ModelGateway, ctx: CallContext, task: str, directive: str, deliberation: str) -> Simulation:
    prompt = Prompt(SYSTEM).add("Task", task).add("Sovereign directive", directive)
    prompt.add("Parliament", deliberation)
    return await ask(gateway, ctx, Role.PLANNER, Phase.SIMULATE, prompt, Simulation, check=_check)


def render(simulation: Simulation) -> str:
    lines = ["SIMULATION ONLY (no actions were taken)", ""]
    for future in simulation.futures:
        lines += [
            f"Future {future.label}: {future.action}",
            f"  Consequence: {future.consequence}",
            f"  Likely response: {future.likely_response}",
            f"  Risk: {future.risk}",
            "",
        ]
    lines.append(f"Recommendation: {simulation.recommendation} — {simulation.reason}")
    lines.append(f"  Champion: {simulation.champion.value} ({simulation.champion_reason})")
    if simulation.dissent:
        lines.append(f"  Dissent:  {simulation.dissent.value} ({simulation.dissent_reason or 'no reason given'})")
    return "\n".join(lines)
