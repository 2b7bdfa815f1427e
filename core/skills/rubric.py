"""Evaluator rubrics: weighted dimensions an output is scored on (from evaluator SKILL.md files)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, Field, model_validator


class RubricDimension(BaseModel):
    name: str = Field(min_length=1)
    weight: float = Field(gt=0, le=1)
    description: str = ""


class Rubric(BaseModel):
    name: str = Field(min_length=1)
    description: str = ""
    dimensions: list[RubricDimension] = Field(min_length=1)
    body: str = ""
    # "bundled:<name>" for a bundled rubric, else the path of its SKILL.md.
    source: str = "bundled"

    @model_validator(mode="after")
    def _weights_sum_to_one(self) -> Rubric:
        total = sum(d.weight for d in self.dimensions)
        if abs(total - 1.0) > 0.011:
            raise ValueError(f"dimension weights must sum to 1.0 (they sum to {total:.2f})")
        return self

    def weight(self, dimension: str) -> float:
        return next(d.weight for d in self.dimensions if d.name == dimension)

    @property
    def dimension_names(self) -> list[str]:
        return [d.name for d in self.dimensions]

    def score(self, scores: dict[str, float]) -> float:
        """Weighted score; every rubric dimension must be present."""
        return round(sum(d.weight * scores[d.name] for d in self.dimensions), 4)


@dataclass
class RubricSet:
    rubrics: dict[str, Rubric]
    # SKILL.md files that were skipped, each as "<path>: <what is wrong>" (shown by the engine
    # as a warning and by `openkoi doctor`): one broken file must not stop every task.
    problems: list[str] = field(default_factory=list)

    def get(self, name: str) -> Rubric:
        return self.rubrics.get(name) or self.rubrics["general"]

    def menu(self) -> str:
        return "\n".join(f"- {r.name}: {r.description}" for r in self.rubrics.values())
