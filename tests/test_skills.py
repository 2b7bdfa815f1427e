"""Rubric (evaluator skill) loading and precedence; SOUL.md lookup order."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.engine import Engine
from core.errors import ConfigError
from core.events import Notice
from core.models import TaskStatus
from core.skills import load_rubrics, parse_skill
from core.soul import load_soul
from tests.conftest import Recorder
from tests.fakes.model_server import FakeModelServer

CUSTOM = """---
name: general
description: Our house rubric.
dimensions:
  - name: usefulness
    weight: 0.6
  - name: brevity
    weight: 0.4
---
Be brief.
"""


def test_bundled_rubrics_have_the_reference_weights(tmp_path: Path) -> None:
    rubrics = load_rubrics(tmp_path, None).rubrics
    assert set(rubrics) == {"general", "code-review", "prose-quality", "sql-safety", "api-design", "test-quality"}
    weights = {name: {d.name: d.weight for d in r.dimensions} for name, r in rubrics.items()}
    assert weights["general"] == {"relevance": 0.40, "quality": 0.35, "completeness": 0.25}
    assert weights["code-review"] == {"correctness": 0.40, "safety": 0.25, "style": 0.15, "completeness": 0.20}
    assert weights["sql-safety"] == {"correctness": 0.35, "safety": 0.30, "performance": 0.20, "reversibility": 0.15}
    assert weights["api-design"]["error_responses"] == 0.30
    assert weights["test-quality"]["assertions"] == 0.30
    assert weights["prose-quality"]["tone"] == 0.15


def test_workspace_rubric_overrides_user_and_bundled(tmp_path: Path) -> None:
    config_dir, workspace = tmp_path / "home", tmp_path / "repo"
    user = config_dir / "evaluators" / "general"
    user.mkdir(parents=True)
    (user / "SKILL.md").write_text(CUSTOM.replace("Our house rubric.", "user level"), encoding="utf-8")
    assert load_rubrics(config_dir, None).get("general").description == "user level"
    project = workspace / ".agents" / "evaluators" / "general"
    project.mkdir(parents=True)
    (project / "SKILL.md").write_text(CUSTOM, encoding="utf-8")
    general = load_rubrics(config_dir, workspace).get("general")
    assert general.description == "Our house rubric." and general.dimension_names == ["usefulness", "brevity"]
    assert general.score({"usefulness": 1.0, "brevity": 0.5}) == 0.8


def test_unknown_category_falls_back_to_general(tmp_path: Path) -> None:
    assert load_rubrics(tmp_path, None).get("no-such-rubric").name == "general"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no front matter", "must start with YAML front matter"),
        ("---\nname: x\ndimensions:\n  - name: a\n    weight: 0.5\n---\n", "weights must sum to 1.0"),
        ("---\nname: [unclosed\n---\n", "not valid YAML"),
        ("---\n- a list\n---\n", "must be a mapping"),
    ],
)
def test_bad_skill_files_are_rejected_with_the_source(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_skill(text, "/x/SKILL.md")
    assert "/x/SKILL.md" in str(caught.value)


def _broken_skill(root: Path, name: str = "broken") -> Path:
    path = root / name / "SKILL.md"
    path.parent.mkdir(parents=True)
    path.write_text("---\nname: broken\ndimensions:\n  - name: a\n    weight: 0.5\n---\n", encoding="utf-8")
    return path


def test_a_broken_skill_file_is_skipped_and_named_not_fatal(tmp_path: Path) -> None:
    config_dir, workspace = tmp_path / "home", tmp_path / "repo"
    broken = _broken_skill(config_dir / "evaluators")
    unreadable = workspace / ".agents" / "evaluators" / "binary" / "SKILL.md"
    unreadable.parent.mkdir(parents=True)
    unreadable.write_bytes(b"\xff\xfe not utf-8")
    good = workspace / ".agents" / "evaluators" / "general" / "SKILL.md"
    good.parent.mkdir(parents=True)
    good.write_text(CUSTOM, encoding="utf-8")
    loaded = load_rubrics(config_dir, workspace)
    assert "broken" not in loaded.rubrics
    assert loaded.get("general").description == "Our house rubric.", "the good files still load"
    assert len(loaded.problems) == 2
    assert loaded.problems[0].startswith(f"{broken}: ") and "weights must sum to 1.0" in loaded.problems[0]
    assert loaded.problems[1] == f"{unreadable}: cannot be read: not UTF-8 text"


async def test_the_engine_warns_about_a_broken_skill_file_and_still_runs_the_task(
    engine: Engine, recorder: Recorder, model_env: FakeModelServer
) -> None:
    broken = _broken_skill(engine.settings.config_dir / "evaluators")
    task = await engine.submit("summarise the README")
    result = await engine.run(task.id)
    assert result.status is TaskStatus.DONE
    warnings = [n.text for n in recorder.of(Notice) if n.level == "warn"]
    assert [w for w in warnings if str(broken) in w] == [
        f"evaluator rubric skipped: {broken}: dimension weights must sum to 1.0 (they sum to 0.50)"
    ], warnings


def test_soul_lookup_order(tmp_path: Path) -> None:
    config_dir, workspace = tmp_path / "home", tmp_path / "repo"
    assert load_soul(config_dir, workspace).source == "bundled"
    config_dir.mkdir()
    (config_dir / "SOUL.md").write_text("home soul", encoding="utf-8")
    assert load_soul(config_dir, workspace).text == "home soul"
    (workspace / ".openkoi").mkdir(parents=True)
    (workspace / ".openkoi" / "SOUL.md").write_text("projekt-Seele ✓", encoding="utf-8")
    soul = load_soul(config_dir, workspace)
    assert soul.text == "projekt-Seele ✓" and soul.source.endswith(".openkoi/SOUL.md")
