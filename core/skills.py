"""Evaluator skills: SKILL.md files whose front matter defines a weighted rubric.

Sources, lowest precedence first: bundled (``skills/evaluators``), user global
(``$config_dir/evaluators``), workspace (``.agents/evaluators``). A later source replaces an
earlier skill of the same name, so a team can tune a bundled rubric without forking it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from core.errors import ConfigError


class RubricDimension(BaseModel):
    name: str = Field(min_length=1)
    weight: float = Field(gt=0, le=1)
    description: str = ""


class Rubric(BaseModel):
    name: str = Field(min_length=1)
    description: str = ""
    dimensions: list[RubricDimension] = Field(min_length=1)
    body: str = ""
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


# libyaml's loader is ~8x faster than the pure-Python one when it is available.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@lru_cache(maxsize=256)
def parse_skill(text: str, source: str) -> Rubric:
    """Parse a SKILL.md (cached by its text, so an edited file is re-parsed)."""
    if not text.startswith("---"):
        raise ConfigError(f"{source}: a SKILL.md must start with YAML front matter ('---')")
    try:
        _, front, body = text.split("---", 2)
        meta: Any = yaml.load(front, Loader=_Loader) or {}
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{source}: front matter is not valid YAML: {exc}") from exc
    if not isinstance(meta, dict) or not all(isinstance(key, str) for key in meta):
        raise ConfigError(f"{source}: front matter must be a mapping of name, description and dimensions")
    try:
        return Rubric(**{k: v for k, v in meta.items() if k != "kind"}, body=body.strip(), source=source)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {'; '.join(map(_problem, exc.errors()))}") from exc


def _problem(error: Any) -> str:
    """One validation error as "<key>: <message>" ("<message>" for the whole file)."""
    message = str(error["msg"]).removeprefix("Value error, ")
    key = ".".join(map(str, error["loc"]))
    return f"{key}: {message}" if key else message


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


def _bundled() -> list[tuple[str, str]]:
    root = resources.files("skills").joinpath("evaluators")
    found = []
    for entry in root.iterdir():
        skill = entry.joinpath("SKILL.md")
        if skill.is_file():
            found.append((f"bundled:{entry.name}", skill.read_text(encoding="utf-8")))
    return sorted(found)


def _from_dir(directory: Path, problems: list[str]) -> list[tuple[str, str]]:
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.glob("*/SKILL.md")):
        try:
            found.append((str(path), path.read_text(encoding="utf-8")))
        except UnicodeDecodeError:
            problems.append(f"{path}: cannot be read: not UTF-8 text")
        except OSError as exc:
            problems.append(f"{path}: cannot be read: {exc.strerror or exc}")
    return found


def load_rubrics(config_dir: Path, workspace: Path | None) -> RubricSet:
    """Every rubric from the three sources. A SKILL.md that cannot be read or parsed is skipped
    and listed in ``problems``; only a missing bundled ``general`` rubric raises ConfigError."""
    problems: list[str] = []
    sources = _bundled() + _from_dir(config_dir / "evaluators", problems)
    if workspace is not None:
        sources += _from_dir(workspace / ".agents" / "evaluators", problems)
    rubrics: dict[str, Rubric] = {}
    for source, text in sources:
        try:
            rubric = parse_skill(text, source)
        except ConfigError as exc:
            problems.append(str(exc))  # already "<source>: <what is wrong>"
            continue
        rubrics[rubric.name] = rubric
    if "general" not in rubrics:
        raise ConfigError("the bundled 'general' evaluator is missing; the installation is incomplete")
    return RubricSet(rubrics, sorted(problems))  # by path, as the files are listed
