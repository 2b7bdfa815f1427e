"""Skills: SKILL.md files that teach the agent how to do a kind of task (task skills) or how to
judge an output (evaluator rubrics).

Owns the SKILL.md format (``document``), what a skill needs to run (``requirements``), the five
sources and their precedence (``catalog``), similarity to a task (``similarity``), measured
effectiveness (``effectiveness``), ranking and the token share (``selection``), and choosing the
skills of one task (``use``). The catalog and the rubric types are exported here; callers load
skills with ``load_catalog`` and parse one with ``document.parse_document``.
"""

from __future__ import annotations

from core.skills.catalog import SkillCatalog, SkillProblem, load_catalog, skills_home
from core.skills.document import Skill, Source
from core.skills.rubric import Rubric, RubricDimension, RubricSet

__all__ = [
    "Rubric",
    "RubricDimension",
    "RubricSet",
    "Skill",
    "SkillCatalog",
    "SkillProblem",
    "Source",
    "load_catalog",
    "skills_home",
]
