"""Schemas the engine asks models to fill. Each is sent as a JSON schema and validated.

Nothing here has a default that could stand in for a missing judgement: a reply that leaves
out a vote, a score or a step fails validation and is repaired once or rejected.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Score = Annotated[float, Field(ge=0.0, le=1.0)]


class _Output(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Directive(_Output):
    """The Sovereign's framing of a task: what good looks like for this team."""

    stance: Text = Field(description="A few words on the approach, e.g. 'Direct, test-driven'")
    good_looks_like: list[Text] = Field(min_length=1, max_length=6)
    constraints: list[Text] = Field(default_factory=list, max_length=6)


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


class GuardianAssessment(_Output):
    reversibility: Literal["FULL", "PARTIAL", "NONE"]
    blast_radius: Literal["LOW", "MEDIUM", "HIGH"]
    permission_level: Literal["NONE", "STANDARD", "ELEVATED"]


class ParliamentReply(_Output):
    """What the parliament call must return: one vote per agency and the Guardian's assessment."""

    votes: list[AgencyVote] = Field(min_length=1, max_length=5)
    guardian_assessment: GuardianAssessment


class Future(_Output):
    label: Text
    action: Text
    consequence: Text
    likely_response: Text
    risk: Literal["LOW", "MEDIUM", "HIGH"]


class Simulation(_Output):
    futures: list[Future] = Field(min_length=2, max_length=5)
    recommendation: Text = Field(description="The label of the recommended future")
    reason: Text
    champion: Agency
    champion_reason: Text
    dissent: Agency | None = None
    dissent_reason: str | None = None


class PlanStep(_Output):
    title: Text
    detail: Text


class Plan(_Output):
    category: str = Field(description="The evaluator rubric that fits the task best")
    read_only: bool = Field(description="True when the task only asks a question and changes nothing")
    read_only_confidence: Score
    steps: list[PlanStep] = Field(min_length=1, max_length=12)
    estimated_iterations: int = Field(ge=1, le=10)


class Severity(StrEnum):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"


class Finding(_Output):
    severity: Severity
    dimension: Text
    description: Text
    fix: Text = Field(description="A concrete change that would resolve the finding")
    quote: str | None = Field(None, description="An exact excerpt of the output the finding is about")


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


class Edit(_Output):
    find: str = Field(min_length=1, description="Exact text from the previous output, unique in it")
    replace: str


class Revision(_Output):
    """A refinement: targeted edits to the previous output, or a complete rewrite."""

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
    text: Text
    confidence: Score


class Learnings(_Output):
    learnings: list[ExtractedLearning] = Field(default_factory=list, max_length=5)
