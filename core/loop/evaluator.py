"""Scoring an output against the task's rubric — fully, or incrementally on iterations 2+.

Incremental evaluation re-scores only the dimensions the refinement targeted (those that had
findings) when the change is localised, judging from the diff; other dimensions' scores and
findings are carried forward. A reply that misses a requested dimension is invalid (repaired
once, then the evaluation fails) — a score is never made up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.llm.gateway import CallContext, ModelGateway
from core.llm.structured import ask
from core.loop.context import change_ratio, diff_hunks
from core.models import Phase, Role
from core.outputs import Evaluation, EvaluationReply, evaluation_schema
from core.prompt import Prompt
from core.skills import Rubric

INCREMENTAL_MAX_CHANGE = 0.5  # a rewrite of more than half the lines gets a full evaluation

SYSTEM = """You are a strict evaluator. Score the output on each requested rubric dimension with a whole \
number from 0 (unusable) to 10 (nothing left to improve), with a short rationale. List findings: each with severity \
(critical/major/minor), the dimension it lowers, what is wrong, a concrete fix, and an exact quote of the \
output it is about when there is one. Set needs_human only when a person must decide something the \
agent cannot (missing access, a business choice, conflicting requirements)."""


@dataclass(frozen=True)
class EvalResult:
    evaluation: Evaluation
    scores: dict[str, float]
    score: float
    incremental: bool = False
    skipped: bool = False
    rescored: tuple[str, ...] = ()


def _checker(dimensions: list[str], rubric: Rubric) -> Callable[[EvaluationReply], None]:
    def check(reply: EvaluationReply) -> None:
        missing = [d for d in dimensions if d not in reply.dimensions]
        if missing:
            raise ValueError(f"scores missing for dimensions {missing}; score exactly {dimensions}")
        unknown = [f.dimension for f in reply.findings if f.dimension not in rubric.dimension_names]
        if unknown:
            raise ValueError(f"findings name unknown dimensions {unknown}; use one of {rubric.dimension_names}")

    return check


async def _ask(gateway: ModelGateway, ctx: CallContext, prompt: Prompt, rubric: Rubric, dims: list[str]) -> Evaluation:
    reply = await ask(
        gateway,
        ctx,
        Role.EVALUATOR,
        Phase.EVALUATE,
        prompt,
        EvaluationReply,
        json_schema=evaluation_schema(dims, rubric.dimension_names),
        name="Evaluation",
        check=_checker(dims, rubric),
    )
    return reply.evaluation(rubric.dimension_names)


def _rubric_text(rubric: Rubric, dimensions: list[str]) -> str:
    lines = [f"{rubric.name}: {rubric.description}", rubric.body, "Dimensions to score:"]
    lines += [f"- {d.name} (weight {d.weight:.2f}): {d.description}" for d in rubric.dimensions if d.name in dimensions]
    return "\n".join(lines)


async def evaluate_full(
    gateway: ModelGateway, ctx: CallContext, task: str, directive: str, rubric: Rubric, output: str
) -> EvalResult:
    dims = rubric.dimension_names
    prompt = Prompt(SYSTEM).add("Task", task).add("What good looks like", directive)
    prompt.add("Rubric", _rubric_text(rubric, dims)).add("Output to evaluate", output, shrinkable=True)
    evaluation = await _ask(gateway, ctx, prompt, rubric, dims)
    scores = {d.name: d.score for d in evaluation.dimensions if d.name in dims}
    return EvalResult(evaluation, scores, rubric.score(scores), rescored=tuple(dims))


def affected_dimensions(previous: EvalResult, rubric: Rubric) -> list[str]:
    targeted = {f.dimension for f in previous.evaluation.findings}
    return [d for d in rubric.dimension_names if d in targeted]


async def evaluate(
    gateway: ModelGateway,
    ctx: CallContext,
    task: str,
    directive: str,
    rubric: Rubric,
    output: str,
    previous_output: str | None = None,
    previous: EvalResult | None = None,
) -> EvalResult:
    """Full evaluation on the first iteration; incremental where the change allows it."""
    if previous is None or previous_output is None:
        return await evaluate_full(gateway, ctx, task, directive, rubric, output)
    dims = affected_dimensions(previous, rubric)
    if not dims or change_ratio(previous_output, output) > INCREMENTAL_MAX_CHANGE:
        return await evaluate_full(gateway, ctx, task, directive, rubric, output)
    prior = "\n".join(
        f"- [{f.severity.value}] {f.dimension}: {f.description} (fix: {f.fix})"
        for f in previous.evaluation.findings
        if f.dimension in dims
    )
    prompt = Prompt(SYSTEM + "\nOnly the changes are shown; re-score only the listed dimensions.")
    prompt.add("Task", task).add("What good looks like", directive)
    prompt.add("Rubric", _rubric_text(rubric, dims))
    prompt.add("Previous findings on these dimensions", prior)
    prompt.add("Changes since the previous evaluation (unified diff)", diff_hunks(previous_output, output), True)
    evaluation = await _ask(gateway, ctx, prompt, rubric, dims)
    scores = dict(previous.scores)
    scores.update({d.name: d.score for d in evaluation.dimensions if d.name in dims})
    carried = [d for d in previous.evaluation.dimensions if d.name not in dims]
    merged = Evaluation(
        dimensions=[d for d in evaluation.dimensions if d.name in dims] + carried,
        findings=[f for f in evaluation.findings if f.dimension in dims]
        + [f for f in previous.evaluation.findings if f.dimension not in dims],
        needs_human=evaluation.needs_human,
        needs_human_reason=evaluation.needs_human_reason,
        summary=evaluation.summary,
    )
    return EvalResult(merged, scores, rubric.score(scores), incremental=True, rescored=tuple(dims))
