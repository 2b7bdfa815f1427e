"""Skills: SKILL.md files that teach the agent how to do a kind of task (task skills) or how to
judge an output (evaluator rubrics).

Owns the SKILL.md format (``document``), what a skill needs to run (``requirements``), the five
sources and their precedence (``catalog``), similarity to a task (``similarity``), measured
effectiveness (``effectiveness``), ranking and the token share (``selection``), and choosing the
skills of one task (``use``). The rubric API of before the package (``load_rubrics``,
``parse_skill``, ``RubricSet``) keeps working.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import ConfigError
from core.skills.catalog import SkillCatalog, SkillProblem, load_catalog, skills_home
from core.skills.document import Skill, Source, parse_document
from core.skills.rubric import Rubric, RubricDimension, RubricSet


def parse_skill(text: str, source: str) -> Rubric:
    """Parse an evaluator SKILL.md into its rubric; raises ConfigError as "<source>: <what is wrong>"."""
    skill = parse_document(text, source, Source.USER, "evaluator")
    if skill.rubric is None:
        raise ConfigError(f"{source}: not an evaluator rubric (kind: {skill.kind})")
    return skill.rubric


def load_rubrics(config_dir: Path, workspace: Path | None) -> RubricSet:
    """Every evaluator rubric, from all five sources with ``config_dir`` as ``$OPENKOI_HOME``.
    A SKILL.md that cannot be read or parsed is skipped and listed in ``problems``; only a missing
    bundled ``general`` rubric raises ConfigError."""
    return load_catalog(config_dir, config_dir, workspace).rubrics


__all__ = [
    "Rubric",
    "RubricDimension",
    "RubricSet",
    "Skill",
    "SkillCatalog",
    "SkillProblem",
    "Source",
    "load_catalog",
    "load_rubrics",
    "parse_skill",
    "skills_home",
]
