"""Schemas the engine asks models to fill. Each is sent as a JSON schema and validated.

Nothing here has a default that could stand in for a missing judgement: a reply that leaves
out a vote, a score or a step fails validation and is repaired once or rejected.
"""

from __future__ import annotations

import json
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
# Bounded text: stated in the schema (maxLength), so grammar-constrained decoding cannot ramble on
# until the output limit — small local models do — and checked after parsing for everyone else.
Phrase = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Sentence = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Paragraph = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=600)]
OptionalSentence = Annotated[str, StringConstraints(max_length=500)] | None
Score = Annotated[float, Field(ge=0.0, le=1.0)]

# Scores, confidences and counts a model gives are small integer scales, sent as a JSON-schema ``enum``:
# a grammar-constrained server (llama.cpp) enforces enums and string lengths but not ``minimum`` /
# ``maximum``, so asked for a score in 0–1 a small model writes 7. On a 0–10 enum it cannot write
# anything else; from an unconstrained server an out-of-range number fails validation and gets the one
# repair attempt, never a clamp. Code maps a point to 0–1 (``fraction``): what is stored, shown and
# compared with the quality bar stays 0–1.
SCALE_TOP = 10
Points = Literal[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
Count = Literal[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]


def fraction(points: int) -> float:
    """A point on the 0–10 scale as a fraction of 1 (7 → 0.7)."""
    return points / SCALE_TOP


class _Output(BaseModel):
    model_config = ConfigDict(extra="ignore")
    # Fields holding text the work itself is made of (an edit, a rewrite, a quote of the output): they
    # may quote anything, so the echo check (``core.llm.echo``) leaves them alone.
    VERBATIM: ClassVar[frozenset[str]] = frozenset()


class Directive(_Output):
    """The Sovereign's framing of a task: what good looks like for this team."""

    stance: Phrase = Field(description="A few words on the approach, e.g. 'Direct, test-driven'")
    good_looks_like: list[Sentence] = Field(min_length=1, max_length=6)
    constraints: list[Sentence] = Field(default_factory=list, max_length=6)


class Agency(StrEnum):
    GUARDIAN = "guardian"
    ECONOMIST = "economist"
    EMPATH = "empath"
    SCHOLAR = "scholar"
    STRATEGIST = "strategist"


class Vote(StrEnum):
    APPROVE = "APPROVE"
    APPROVE_WITH_CAVEAT = "APPROVE_WITH_CAVEAT"
    ABSTAIN = "ABSTAIN"
    BLOCK = "BLOCK"


class AgencyVote(_Output):
    agency: Agency
    vote: Vote
    reason: Text
    caveat: str | None = Field(None, description="Required when vote is APPROVE_WITH_CAVEAT")
    # The Economist's estimate of the task's whole model cost, kept to be compared with the actual
    # cost (`openkoi reflect honest`); None for the other agencies.
    estimate_usd: float | None = None
    # Why this ballot is not a judgement (it copies the prompt, repeats another agency's reason, …): it
    # counts as an abstention, and the Guardian's fails closed. None: a valid vote.
    invalid: str | None = None


class GuardianAssessment(_Output):
    reversibility: Literal["FULL", "PARTIAL", "NONE"]
    blast_radius: Literal["LOW", "MEDIUM", "HIGH"]
    permission_level: Literal["NONE", "STANDARD", "ELEVATED"]


class Ballot(_Output):
    """One agency's vote in the Parliament's reply. The reason comes before the vote, so that a
    model writes its reasoning first and votes from it (weak models vote at random otherwise)."""

    reason: Sentence
    vote: Vote
    caveat: OptionalSentence = Field(None, description="Required when vote is APPROVE_WITH_CAVEAT")


class EconomistBallot(_Output):
    """The Economist estimates what the task will cost, then reasons, then votes. The bound is loose on
    purpose: a wild but well-formed guess is data for `reflect honest`, not a reason to fail closed."""

    estimated_cost_usd: float = Field(
        ge=0.0, le=1_000_000.0, description="The whole task's model cost in USD, all iterations, by your estimate"
    )
    reason: Sentence
    vote: Vote
    caveat: OptionalSentence = Field(None, description="Required when vote is APPROVE_WITH_CAVEAT")


class GuardianBallot(_Output):
    """The Guardian assesses the risk, then reasons, then votes."""

    reversibility: Literal["FULL", "PARTIAL", "NONE"]
    blast_radius: Literal["LOW", "MEDIUM", "HIGH"]
    permission_level: Literal["NONE", "STANDARD", "ELEVATED"]
    reason: Sentence
    vote: Vote
    caveat: OptionalSentence = Field(None, description="Required when vote is APPROVE_WITH_CAVEAT")


class ParliamentReply(_Output):
    """What the parliament call must return: one required key per agency, so that a
    grammar-constrained model cannot leave an agency out or vote twice."""

    guardian: GuardianBallot
    economist: EconomistBallot
    empath: Ballot
    scholar: Ballot
    strategist: Ballot

    def votes(self) -> list[AgencyVote]:
        return [
            AgencyVote(
                agency=agency,
                vote=b.vote,
                reason=b.reason,
                caveat=b.caveat,
                estimate_usd=b.estimated_cost_usd if isinstance(b, EconomistBallot) else None,
            )
            for agency in Agency
            for b in [getattr(self, agency.value)]
        ]

    def assessment(self) -> GuardianAssessment:
        g = self.guardian
        return GuardianAssessment(
            reversibility=g.reversibility, blast_radius=g.blast_radius, permission_level=g.permission_level
        )


FutureLabel = Literal["A", "B", "C", "D", "E"]


class Future(_Output):
    label: FutureLabel
    action: Sentence
    consequence: Sentence
    likely_response: Sentence
    risk: Literal["LOW", "MEDIUM", "HIGH"]


class Simulation(_Output):
    futures: list[Future] = Field(min_length=2, max_length=5, description="Labelled A, B, C … in order")
    recommendation: FutureLabel = Field(description="The label of the recommended future (one of the futures)")
    reason: Sentence
    champion: Agency
    champion_reason: Sentence
    dissent: Agency | None = None
    dissent_reason: OptionalSentence = None


class PlanStep(_Output):
    title: Phrase
    detail: Paragraph


class Plan(_Output):
    # The JSON schema sent narrows this to the loaded rubric names (see plan_schema).
    category: str = Field(description="The evaluator rubric that fits the task best")
    read_only: bool = Field(description="True when the task only asks a question and changes nothing")
    read_only_confidence: Points = Field(description="How sure you are of read_only: 0 (a guess) to 10 (certain)")
    steps: list[PlanStep] = Field(min_length=1, max_length=12)
    estimated_iterations: Count

    @property
    def read_only_certainty(self) -> float:
        """``read_only_confidence`` as 0–1, to compare with ``[iteration] skip_eval_confidence``."""
        return fraction(self.read_only_confidence)


class Severity(StrEnum):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"


class Finding(_Output):
    VERBATIM = frozenset({"quote"})

    severity: Severity
    dimension: Phrase
    description: Sentence
    fix: Paragraph = Field(description="A concrete change that would resolve the finding")
    quote: Annotated[str, StringConstraints(max_length=600)] | None = Field(
        None, description="An exact excerpt of the output the finding is about"
    )


class DimensionScore(_Output):
    name: Text
    score: Score
    rationale: Text


class Evaluation(_Output):
    dimensions: list[DimensionScore] = Field(min_length=1)
    findings: list[Finding] = Field(default_factory=list)
    needs_human: bool = Field(description="True only if a person must decide before going further")
    needs_human_reason: str | None = None
    summary: Text


class Judgement(_Output):
    score: Points = Field(description="0 (unusable) to 10 (nothing left to improve)")
    rationale: Sentence


class EvaluationReply(_Output):
    """What the evaluator call returns: one required key per rubric dimension being scored
    (see evaluation_schema), so a constrained model cannot skip or invent one."""

    dimensions: dict[str, Judgement]
    findings: list[Finding] = Field(default_factory=list)
    needs_human: bool = Field(description="True only if a person must decide before going further")
    needs_human_reason: OptionalSentence = None
    summary: Paragraph

    def evaluation(self, order: list[str]) -> Evaluation:
        scored = [
            DimensionScore(name=n, score=fraction(j.score), rationale=j.rationale) for n, j in self.dimensions.items()
        ]
        scored.sort(key=lambda d: order.index(d.name) if d.name in order else len(order))
        return Evaluation(
            dimensions=scored,
            findings=self.findings,
            needs_human=self.needs_human,
            needs_human_reason=self.needs_human_reason,
            summary=self.summary,
        )


class Edit(_Output):
    VERBATIM = frozenset({"find", "replace"})

    find: str = Field(min_length=1, description="Exact text from the previous output, unique in it")
    replace: str


class Revision(_Output):
    """A refinement: targeted edits to the previous output, or a complete rewrite."""

    VERBATIM = frozenset({"rewrite", "notes"})

    edits: list[Edit] = Field(default_factory=list)
    rewrite: str | None = None
    notes: str | None = None

    @model_validator(mode="after")
    def _says_something(self) -> Revision:
        if not self.edits and not (self.rewrite and self.rewrite.strip()):
            raise ValueError("a revision needs at least one edit or a rewrite")
        return self


class LearningKind(StrEnum):
    HEURISTIC = "heuristic"
    ANTI_PATTERN = "anti_pattern"
    PREFERENCE = "preference"
    FACT = "fact"


class ExtractedLearning(_Output):
    kind: LearningKind
    text: Sentence
    confidence: Points = Field(description="How sure you are it holds: 0 (a guess) to 10 (certain)")


class Learnings(_Output):
    learnings: list[ExtractedLearning] = Field(default_factory=list, max_length=5)


# Schemas narrowed to what is known at call time: grammar-constrained decoding (llama.cpp, vLLM,
# Ollama) can then only produce an answer that names a loaded rubric or a requested dimension.


@lru_cache(maxsize=32)
def _plan_schema(categories: tuple[str, ...]) -> str:
    schema = Plan.model_json_schema()
    schema["properties"]["category"]["enum"] = list(categories)
    return json.dumps(schema)


def plan_schema(categories: list[str]) -> dict[str, Any]:
    """Plan's JSON schema with ``category`` an enum of the loaded rubric names."""
    result: dict[str, Any] = json.loads(_plan_schema(tuple(categories)))
    return result


@lru_cache(maxsize=64)
def _evaluation_schema(scored: tuple[str, ...], dimensions: tuple[str, ...]) -> str:
    schema = EvaluationReply.model_json_schema()
    judgement = {"$ref": "#/$defs/Judgement"}
    schema["properties"]["dimensions"] = {
        "type": "object",
        "properties": {name: judgement for name in scored},
        "required": list(scored),
        "additionalProperties": False,
    }
    schema["$defs"]["Finding"]["properties"]["dimension"]["enum"] = list(dimensions)
    return json.dumps(schema)


def evaluation_schema(scored: list[str], dimensions: list[str]) -> dict[str, Any]:
    """EvaluationReply's JSON schema: ``dimensions`` has exactly the ``scored`` keys, all required;
    a finding's ``dimension`` is one of the rubric's ``dimensions``."""
    result: dict[str, Any] = json.loads(_evaluation_schema(tuple(scored), tuple(dimensions)))
    return result
