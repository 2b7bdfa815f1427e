"""One SKILL.md: YAML front matter and a Markdown body, in the format the seeds and OpenClaw share.

Front matter read here (everything else, e.g. OpenClaw's ``homepage`` or ``install``, is accepted
and ignored):

- ``name`` (required), ``description``, ``kind: task | evaluator``;
- categories: ``metadata.categories`` (or ``categories``, or OpenClaw's ``metadata.openclaw.category``);
- an evaluator's weighted ``dimensions``, at the top level (openkoi's first format) or under
  ``metadata`` (the seeds' format); without ``kind``, a file with dimensions is an evaluator;
- requirements (see ``core.skills.requirements``);
- ``user-invocable`` (default true: it may be asked for by name) and ``disable-model-invocation``
  (default false; true keeps it out of automatic selection).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any, Literal

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.errors import ConfigError
from core.skills.requirements import Requirements
from core.skills.rubric import Rubric, RubricDimension

Kind = Literal["task", "evaluator"]


class Source(StrEnum):
    """Where a skill was found, lowest precedence first: a higher source replaces a lower one's
    skill of the same kind and name."""

    BUNDLED = "bundled"
    MANAGED = "managed"
    WORKSPACE = "workspace"
    USER = "user"
    PROPOSED = "proposed"


@dataclass(frozen=True)
class Skill:
    name: str
    kind: Kind
    description: str
    categories: tuple[str, ...]
    requirements: Requirements
    user_invocable: bool
    model_invocable: bool
    body: str
    source: Source
    path: str  # the SKILL.md's path, or "bundled:<dir>" for one shipped with openkoi
    rubric: Rubric | None = None  # evaluators only
    # The SKILL.md's content hash (12 hex digits): with ``source``, the version its effectiveness is kept for.
    digest: str = ""


def _as_list(value: Any) -> Any:
    """``bins: gh`` means ``bins: [gh]``; ``None`` (an empty key) means none."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else value


class _Lenient(BaseModel):
    # OpenClaw and others add fields of their own: accepted, not read.
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class _Requires(_Lenient):
    bins: list[str] = Field(default_factory=list)
    any_bins: list[str] = Field(default_factory=list, alias="anyBins")
    env: list[str] = Field(default_factory=list)

    _lists = field_validator("bins", "any_bins", "env", mode="before")(_as_list)


class _Runtime(_Lenient):
    requires: _Requires = Field(default_factory=_Requires)
    os_: list[str] = Field(default_factory=list, alias="os")
    category: str | None = None
    categories: list[str] = Field(default_factory=list)

    _lists = field_validator("os_", "categories", mode="before")(_as_list)

    def requirements(self) -> Requirements:
        r = self.requires
        return Requirements(tuple(r.bins), tuple(r.any_bins), tuple(r.env), tuple(self.os_))

    def category_names(self) -> list[str]:
        return [*self.categories, *([self.category] if self.category else [])]


class _Metadata(_Runtime):
    dimensions: list[RubricDimension] | None = None
    openclaw: _Runtime | None = Field(None, validation_alias=AliasChoices("openclaw", "clawdbot", "clawdis", "moltbot"))


class _FrontMatter(_Runtime):
    name: str = Field(min_length=1)
    description: str | None = None
    kind: Kind | None = None
    dimensions: list[RubricDimension] | None = None
    metadata: _Metadata = Field(default_factory=_Metadata)
    user_invocable: bool = Field(True, alias="user-invocable")
    disable_model_invocation: bool = Field(False, alias="disable-model-invocation")

    @field_validator("metadata", mode="before")
    @classmethod
    def _json_metadata(cls, value: Any) -> Any:
        # OpenClaw's docs write metadata as one line of JSON; YAML reads that as a mapping, but a
        # quoted one arrives as a string.
        if value is None:
            return {}
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError as exc:
                raise ValueError("metadata must be a mapping (or a JSON object)") from exc
        return value


# libyaml's loader is ~8x faster than the pure-Python one when it is available.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def split_front_matter(text: str, path: str) -> tuple[Any, str]:
    """(parsed front matter, body). Raises ConfigError naming ``path``."""
    lines = text.lstrip("\ufeff").splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise ConfigError(f"{path}: a SKILL.md must start with YAML front matter ('---')")
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        raise ConfigError(f"{path}: the front matter is not closed with a '---' line")
    try:
        meta: Any = yaml.load("".join(lines[1:end]), Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: front matter is not valid YAML: {exc}") from exc
    return meta, "".join(lines[end + 1 :]).strip()


def problem(error: Any) -> str:
    """One validation error as "<key>: <message>" ("<message>" for the whole file)."""
    message = str(error["msg"]).removeprefix("Value error, ")
    key = ".".join(map(str, error["loc"]))
    return f"{key}: {message}" if key else message


@lru_cache(maxsize=512)
def parse_document(text: str, path: str, source: Source, default_kind: Kind) -> Skill:
    """Parse a SKILL.md (cached by its text, so an edited file is parsed again). ``default_kind`` is
    the kind its directory implies when the file names none and has no dimensions.
    Raises ConfigError as "<path>: <what is wrong>"."""
    meta, body = split_front_matter(text, path)
    if meta is None:
        meta = {}
    if not isinstance(meta, dict) or not all(isinstance(key, str) for key in meta):
        raise ConfigError(f"{path}: front matter must be a mapping of name, description and the rest")
    try:
        front = _FrontMatter.model_validate(meta)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {'; '.join(map(problem, exc.errors()))}") from exc
    md = front.metadata
    if front.dimensions is not None and md.dimensions is not None:
        raise ConfigError(f"{path}: dimensions are given twice (top level and metadata); keep one")
    dimensions = front.dimensions if front.dimensions is not None else md.dimensions
    kind: Kind = front.kind or ("evaluator" if dimensions is not None else default_kind)
    description = (front.description or "").strip()
    rubric = None
    if kind == "evaluator":
        if dimensions is None:
            raise ConfigError(f"{path}: an evaluator needs weighted dimensions (metadata.dimensions)")
        try:
            rubric = Rubric(name=front.name, description=description, dimensions=dimensions, body=body, source=path)
        except ValidationError as exc:
            raise ConfigError(f"{path}: {'; '.join(map(problem, exc.errors()))}") from exc
    runtimes = [front, md, *([md.openclaw] if md.openclaw is not None else [])]
    requirements = Requirements()
    categories: list[str] = []
    for runtime in runtimes:
        requirements = requirements.merged(runtime.requirements())
        categories += [c.strip().lower() for c in runtime.category_names() if c.strip()]
    return Skill(
        name=front.name.strip(),
        kind=kind,
        description=description,
        categories=tuple(dict.fromkeys(categories)),
        requirements=requirements,
        user_invocable=front.user_invocable,
        model_invocable=not front.disable_model_invocation,
        body=body,
        source=source,
        path=path,
        rubric=rubric,
        digest=content_digest(text),
    )


def content_digest(text: str) -> str:
    """A SKILL.md's version within its source: the first 12 hex digits of its text's SHA-256."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
