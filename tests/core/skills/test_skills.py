"""Skills: SKILL.md parsing (openkoi's, the seeds' and OpenClaw's fields), the five sources and their
precedence, broken files skipped with their path, requirements; rubric loading; SOUL.md lookup order."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.deliberation.soul import load_soul
from core.engine import Engine
from core.errors import ConfigError
from core.events import Notice
from core.models import TaskStatus
from core.skills import Source, load_catalog
from core.skills.document import parse_document
from core.skills.guarded import guard_reason, guarded_skills
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
    rubrics = load_catalog(tmp_path, tmp_path, None).rubrics.rubrics
    assert set(rubrics) == {"general", "code-review", "prose-quality", "sql-safety", "api-design", "test-quality"}
    weights = {name: {d.name: d.weight for d in r.dimensions} for name, r in rubrics.items()}
    assert weights["general"] == {"relevance": 0.40, "quality": 0.35, "completeness": 0.25}
    assert weights["code-review"] == {"correctness": 0.40, "safety": 0.25, "style": 0.15, "completeness": 0.20}
    assert weights["sql-safety"] == {"correctness": 0.35, "safety": 0.30, "performance": 0.20, "reversibility": 0.15}
    assert weights["api-design"]["error_responses"] == 0.30
    assert weights["test-quality"]["assertions"] == 0.30
    assert weights["prose-quality"]["tone"] == 0.15


def test_user_rubric_overrides_workspace_and_bundled(tmp_path: Path) -> None:
    # The seeds' precedence: bundled < managed < workspace < user global < proposed. (Before the five
    # sources, a workspace rubric beat a user one; $config_dir/evaluators is now a user-global source.)
    config_dir, workspace = tmp_path / "home", tmp_path / "repo"
    project = workspace / ".agents" / "evaluators" / "general"
    project.mkdir(parents=True)
    (project / "SKILL.md").write_text(CUSTOM, encoding="utf-8")
    general = load_catalog(config_dir, config_dir, workspace).rubrics.get("general")
    assert general.description == "Our house rubric." and general.dimension_names == ["usefulness", "brevity"]
    assert general.score({"usefulness": 1.0, "brevity": 0.5}) == 0.8
    user = config_dir / "evaluators" / "general"
    user.mkdir(parents=True)
    (user / "SKILL.md").write_text(CUSTOM.replace("Our house rubric.", "user level"), encoding="utf-8")
    assert load_catalog(config_dir, config_dir, workspace).rubrics.get("general").description == "user level"


def test_unknown_category_falls_back_to_general(tmp_path: Path) -> None:
    assert load_catalog(tmp_path, tmp_path, None).rubrics.get("no-such-rubric").name == "general"


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
        parse_document(text, "/x/SKILL.md", Source.USER, "evaluator")
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
    loaded = load_catalog(config_dir, config_dir, workspace).rubrics
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


# --- the five sources, the seed's format, requirements ---------------------------------------------


def _task_skill(root: Path, name: str, description: str, extra: str = "", folder: str | None = None) -> Path:
    path = root / (folder or name) / "SKILL.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\nname: {name}\ndescription: {description}\n{extra}---\nBody of {description}.\n", "utf-8")
    return path


def test_precedence_replaces_by_name_across_all_five_sources(tmp_path: Path) -> None:
    home, workspace = tmp_path / "home", tmp_path / "repo"
    bundled = load_catalog(home, home, workspace).task("self-iterate")
    assert bundled is not None and bundled.source is Source.BUNDLED and bundled.path == "bundled:self-iterate"
    # The proposed source, highest of all, only ever adds a skill: see
    # test_an_approved_proposal_never_replaces_a_skill_in_the_catalog.
    layers = [
        (Source.MANAGED, home / "skills" / "managed"),
        (Source.WORKSPACE, workspace / ".agents" / "skills"),
        (Source.USER, home / "skills" / "user"),
    ]
    for n, (source, root) in enumerate(layers):
        path = _task_skill(root, "self-iterate", f"from {source.value}")
        catalog = load_catalog(home, home, workspace)
        winner = catalog.task("self-iterate")
        assert winner is not None and (winner.source, winner.path) == (source, str(path))
        assert winner.description == f"from {source.value}" and winner.body == f"Body of from {source.value}."
        replaced = catalog.overridden[("task", "self-iterate")]
        assert [s.source for s in replaced] == [Source.BUNDLED, *(s for s, _ in layers[:n])]
    # A lower source added later still loses to the higher ones already there.
    _task_skill(home / "skills" / "managed", "self-iterate", "managed again")
    assert load_catalog(home, home, workspace).task("self-iterate").source is Source.USER  # type: ignore[union-attr]
    # Kinds are separate: a task skill called "general" does not replace the general rubric.
    _task_skill(home / "skills" / "proposed", "general", "a task skill")
    catalog = load_catalog(home, home, workspace)
    assert catalog.task("general") is not None and catalog.rubrics.get("general").source == "bundled:general"
    assert [s.kind for s in catalog.named("general")] == ["evaluator", "task"]


def test_an_approved_proposal_never_replaces_a_skill_in_the_catalog(tmp_path: Path) -> None:
    """Defect 5 of issue 16: the proposed source (approved proposals, model-named) replaced any skill of the
    same name, the bundled self-iterate included."""
    home, workspace = tmp_path / "home", tmp_path / "repo"
    proposed = home / "skills" / "proposed"
    guarded = _task_skill(proposed, "self-iterate", "a proposal's self-iterate")
    catalog = load_catalog(home, home, workspace)
    kept = catalog.task("self-iterate")
    assert kept is not None and kept.source is Source.BUNDLED, "a guarded bundled skill is never replaced"
    (refused,) = catalog.problems
    assert refused.path == str(guarded) and refused.label == "task skill"
    assert refused.reason.startswith(f"{guarded}: not used: 'self-iterate' is a bundled skill that guards the loop (")
    assert refused.reason.endswith("a skill proposal can never replace it")

    # Any other skill of a lower source keeps its place too, whichever was there first.
    team = _task_skill(workspace / ".agents" / "skills", "release-notes", "the team's own")
    clash = _task_skill(proposed, "release-notes", "a proposal's release notes")
    fresh = _task_skill(proposed, "rotate-certs", "a new skill from a proposal")
    catalog = load_catalog(home, home, workspace)
    assert catalog.task("release-notes").path == str(team)  # type: ignore[union-attr]
    assert ("task", "release-notes") not in catalog.overridden
    reasons = {p.path: p.reason for p in catalog.problems}
    assert reasons[str(clash)] == (
        f"{clash}: not used: a task skill named 'release-notes' already comes from workspace ({team}), and an"
        " approved proposal never replaces a skill; rename it (its directory and its name:)"
    )
    added = catalog.task("rotate-certs")
    assert added is not None and added.source is Source.PROPOSED and added.path == str(fresh), "it may add one"
    # The list of guarded skills is data shipped with the bundled skills, not a literal in the code.
    assert set(guarded_skills()) == {"self-iterate"}
    assert guard_reason("release-notes") is None


def test_a_broken_task_skill_is_skipped_with_its_path_in_every_source(tmp_path: Path) -> None:
    home, workspace = tmp_path / "home", tmp_path / "repo"
    broken = [
        _task_skill(home / "skills" / "managed", "no-name", "x", folder="a").with_name("SKILL.md"),
        workspace / ".agents" / "skills" / "b" / "SKILL.md",
        home / "skills" / "user" / "c" / "SKILL.md",
        home / "skills" / "proposed" / "d" / "SKILL.md",
    ]
    broken[0].write_text("---\ndescription: no name\n---\n", "utf-8")
    broken[1].parent.mkdir(parents=True)
    broken[1].write_text("---\nname: b\nuser-invocable: [yes\n---\n", "utf-8")
    broken[2].parent.mkdir(parents=True)
    broken[2].write_text("no front matter at all", "utf-8")
    broken[3].parent.mkdir(parents=True)
    broken[3].write_text("---\nname: d\nmetadata:\n  openclaw:\n    requires:\n      bins: {a: 1}\n---\n", "utf-8")
    good = _task_skill(home / "skills" / "user", "release-notes", "Write release notes")
    hidden = _task_skill(home / "skills" / "proposed" / ".pending", "pending", "awaiting review")
    catalog = load_catalog(home, home, workspace)
    assert {p.path for p in catalog.problems} == {str(p) for p in broken}
    reasons = {p.path: p.reason for p in catalog.problems}
    assert reasons[str(broken[0])] == f"{broken[0]}: name: Field required"
    assert "not valid YAML" in reasons[str(broken[1])]
    assert "must start with YAML front matter" in reasons[str(broken[2])]
    assert reasons[str(broken[3])].startswith(f"{broken[3]}: metadata.openclaw.requires.bins")
    assert all(p.label == "task skill" for p in catalog.problems)
    assert [s.name for s in catalog.tasks()] == ["release-notes", "self-iterate"], "the good ones still load"
    assert catalog.task("release-notes").path == str(good)  # type: ignore[union-attr]
    assert str(hidden) not in {s.path for s in catalog.skills.values()}, "a dot directory is not a source"


async def test_the_engine_names_a_broken_task_skill_and_still_runs_the_task(
    engine: Engine, recorder: Recorder, model_env: FakeModelServer
) -> None:
    assert engine.workspace is not None
    path = engine.workspace / ".agents" / "skills" / "oops" / "SKILL.md"
    path.parent.mkdir(parents=True)
    path.write_text("---\nname: oops\nkind: recipe\n---\n", "utf-8")
    task = await engine.submit("summarise the README")
    assert (await engine.run(task.id)).status is TaskStatus.DONE
    warnings = [n.text for n in recorder.of(Notice) if n.level == "warn"]
    assert [w for w in warnings if str(path) in w] == [
        f"task skill skipped: {path}: kind: Input should be 'task' or 'evaluator'"
    ], warnings


SEED_EVALUATOR = """---
name: my-evaluator
kind: evaluator
description: Evaluates database migrations for safety.
metadata:
  categories: ["database", "migration"]
  dimensions:
    - { name: reversibility, weight: 0.4 }
    - { name: data_safety, weight: 0.35 }
    - { name: performance, weight: 0.25 }
---
# Database Migration Evaluator

## Reversibility (40%)
- Is there a matching down migration?
"""


def test_the_seed_evaluator_format_loads(tmp_path: Path) -> None:
    home, workspace = tmp_path / "home", tmp_path / "repo"
    path = workspace / ".agents" / "evaluators" / "my-evaluator" / "SKILL.md"
    path.parent.mkdir(parents=True)
    path.write_text(SEED_EVALUATOR, "utf-8")
    catalog = load_catalog(home, home, workspace)
    assert catalog.problems == []
    rubric = catalog.rubrics.get("my-evaluator")
    assert rubric.source == str(path) and rubric.description == "Evaluates database migrations for safety."
    assert {d.name: d.weight for d in rubric.dimensions} == {
        "reversibility": 0.4,
        "data_safety": 0.35,
        "performance": 0.25,
    }
    assert rubric.body.startswith("# Database Migration Evaluator")
    evaluator = catalog.named("my-evaluator")[0]
    assert evaluator.categories == ("database", "migration") and evaluator.source is Source.WORKSPACE
    # Without `kind`, metadata.dimensions alone make it an evaluator, even in a task-skill directory.
    parsed = parse_document(SEED_EVALUATOR.replace("kind: evaluator\n", ""), "/x/SKILL.md", Source.USER, "task")
    assert parsed.kind == "evaluator" and parsed.rubric is not None
    assert parsed.rubric.dimension_names == ["reversibility", "data_safety", "performance"]
    twice = SEED_EVALUATOR.replace("kind: evaluator\n", "dimensions: [{name: a, weight: 1}]\n")
    with pytest.raises(ConfigError, match="dimensions are given twice"):
        parse_document(twice, "/x/SKILL.md", Source.USER, "evaluator")


OPENCLAW_SKILL = """---
name: gh-issues
description: Triage GitHub issues with the gh CLI.
homepage: https://example.invalid/gh-issues
version: 1.2.0
user-invocable: false
metadata: {"openclaw": {"emoji": "🐙", "requires": {"bins": ["gh"], "anyBins": ["jq", "yq"], "env": ["GH_TOKEN"]}, "os": ["linux", "macos"], "category": "GitHub", "install": [{"kind": "brew", "formula": "gh"}]}}
---
Use `gh issue list`.
"""


def test_openclaw_fields_are_accepted_and_requirements_read(tmp_path: Path) -> None:
    home = tmp_path / "home"
    path = home / "skills" / "managed" / "gh-issues" / "SKILL.md"
    path.parent.mkdir(parents=True)
    path.write_text(OPENCLAW_SKILL, "utf-8")
    skill = load_catalog(home, home, None).task("gh-issues")
    assert skill is not None and skill.source is Source.MANAGED and not skill.user_invocable and skill.model_invocable
    assert skill.categories == ("github",)
    r = skill.requirements
    assert (r.bins, r.any_bins, r.env, r.os) == (("gh",), ("jq", "yq"), ("GH_TOKEN",), ("linux", "macos"))
    everything = {"gh": "/bin/gh", "yq": "/bin/yq"}
    assert r.missing(which=everything.get, environ={"GH_TOKEN": "t"}, platform="darwin") == []
    assert r.missing(which=lambda _: None, environ={}, platform="win32") == [
        "program gh",
        "one of the programs jq, yq",
        "environment variable GH_TOKEN",
        "OS linux or macos (this is win32)",
    ]


def test_the_bundled_self_iterate_skill_ships_as_a_task_skill(tmp_path: Path) -> None:
    skill = load_catalog(tmp_path, tmp_path, None).task("self-iterate")
    assert skill is not None and skill.kind == "task" and skill.user_invocable and skill.model_invocable
    assert {"self-improvement", "refactor", "code"} <= set(skill.categories)
    assert "Iteration safety" in skill.body and skill.requirements.missing() == []
