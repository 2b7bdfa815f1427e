"""Choosing task skills: eligibility, relevance, measured effectiveness, the token share, injection into
the plan and execution prompts (as the fake model received them), `--skill` at the engine, and the record
on the task."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import SkillSettings
from core.engine import Engine
from core.events import SkillsChosen
from core.models import Session, Task, TaskOptions, TaskStatus
from core.skills import Skill, Source, load_catalog
from core.skills.effectiveness import effectiveness_of, of_version
from core.skills.requirements import Requirements
from core.skills.selection import CLIP_MARK, MIN_CLIPPED_TOKENS, Choice, fit
from core.skills.similarity import LexicalSimilarity
from core.skills.use import SkillNotAvailable, choose_for_task, invocable
from core.store import Store
from core.store.skill_uses import SkillUse, SkillVersion
from tests.conftest import Recorder
from tests.fakes.model_server import FakeModelServer, prompt_text
from tests.support import write_skill

RELEASE = "MARKER-RELEASE: group the changes by who they affect, breaking changes first."


def team_skills(workspace: Path) -> None:
    skills = workspace / ".agents" / "skills"
    write_skill(
        skills,
        "release-notes",
        "Write release notes for a new version.",
        RELEASE,
        'metadata:\n  categories: ["release", "changelog"]\n',
    )
    write_skill(skills, "haiku-poet", "Compose haiku and short poems about seasons.", "Count 5-7-5 syllables.")
    # As relevant as release-notes, but it cannot run here.
    write_skill(
        skills,
        "release-publisher",
        "Publish release notes for a new version.",
        "Run `relpub`.",
        "requires:\n  bins: [relpub-definitely-not-installed]\n  env: [RELPUB_TOKEN_NOT_SET]\n",
    )
    # Relevant too, but it opted out of automatic selection.
    write_skill(
        skills,
        "release-by-hand",
        "Release notes for a version, by hand.",
        "Only when asked.",
        "disable-model-invocation: true\n",
    )
    write_skill(skills, "secret-recipe", "Internal; never asked for by name.", "x", "user-invocable: false\n")  # fmt: skip


async def test_chosen_skills_appear_in_the_plan_and_execution_prompts_and_on_the_task(
    engine: Engine, recorder: Recorder, model_env: FakeModelServer
) -> None:
    assert engine.workspace is not None
    team_skills(engine.workspace)
    task = await engine.submit("Write the release notes for version 2.1")
    assert (await engine.run(task.id)).status is TaskStatus.DONE

    (plan,) = model_env.requests_of("Plan")
    (execute,) = model_env.requests_of("execute")
    for request, heading in (
        (plan, "## Skills (follow them where they apply)\n"),
        (execute, "Skills (follow them where they apply):\n"),
    ):
        text = prompt_text(request)
        assert heading in text
        assert "### release-notes" in text and RELEASE in text
        for absent in ("haiku-poet", "release-publisher", "release-by-hand", "secret-recipe"):
            assert absent not in text, absent
    uses = await engine.store.skill_uses.for_task(task.id)
    assert [(u.skill, u.source, u.rank, u.forced) for u in uses] == [("release-notes", "workspace", 1, False)]
    assert uses[0].relevance > 0.1 and uses[0].tokens > 0
    (chosen,) = recorder.of(SkillsChosen)
    assert chosen.skills == ("release-notes",) and chosen.asked_for is None


async def test_a_skill_asked_for_by_name_comes_first_even_when_unrelated(
    engine: Engine, recorder: Recorder, model_env: FakeModelServer
) -> None:
    assert engine.workspace is not None
    team_skills(engine.workspace)
    task = await engine.submit("Write the release notes for version 2.1", options=TaskOptions(skill="haiku-poet"))
    assert (await engine.run(task.id)).status is TaskStatus.DONE
    uses = await engine.store.skill_uses.for_task(task.id)
    assert [(u.skill, u.forced) for u in uses] == [("haiku-poet", True), ("release-notes", False)]
    text = prompt_text(model_env.requests_of("execute")[0])
    assert text.index("### haiku-poet") < text.index("### release-notes")
    assert recorder.of(SkillsChosen)[0].asked_for == "haiku-poet"
    # An option that only names a skill never chosen automatically works too.
    by_hand = await engine.submit("anything at all", options=TaskOptions(skill="release-by-hand"))
    assert (await engine.run(by_hand.id)).status is TaskStatus.DONE
    assert [u.skill for u in await engine.store.skill_uses.for_task(by_hand.id)] == ["release-by-hand"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("release-note", "there is no task skill named 'release-note'. Did you mean 'release-notes'?"),
        ("secret-recipe", "the skill 'secret-recipe' cannot be asked for by name (user-invocable: false in "),
        ("release-publisher", "the skill 'release-publisher' cannot run here: it needs program relpub-definitely"),
        ("general", "'general' is an evaluator rubric, not a task skill"),
    ],
)
async def test_a_skill_that_cannot_be_asked_for_fails_the_task_clearly(
    engine: Engine, model_env: FakeModelServer, name: str, message: str
) -> None:
    assert engine.workspace is not None
    team_skills(engine.workspace)
    with pytest.raises(SkillNotAvailable) as caught:
        invocable(engine.skill_catalog(), name)
    assert message in str(caught.value)
    task = await engine.submit("Write the release notes", options=TaskOptions(skill=name))
    result = await engine.run(task.id)
    assert result.status is TaskStatus.FAILED and result.error is not None and message in result.error
    assert "execute" not in model_env.kinds(), "nothing is executed with a skill that was asked for and missing"


async def _finished_task(
    store: Store, skill: str, score: float, version: str | None = None, source: str = "user"
) -> str:
    session = Session(kind="terminal")
    await store.sessions.create(session)
    task = await store.tasks.create(Task(session_id=session.id, description=f"uses {skill}"))
    await store.tasks.update(task.id, status=TaskStatus.DONE, score=score)
    await store.skill_uses.record(task.id, [SkillUse(skill, source, 1, False, 0.5, 10, version)])
    return task.id


async def test_effectiveness_changes_the_ranking_after_scored_outcomes(store: Store, tmp_path: Path) -> None:
    home = tmp_path / "skills-home"
    for name in ("changelog-a", "changelog-b"):  # equally similar to the task: only outcomes can tell them apart
        write_skill(home / "skills" / "user", name, "Write a changelog entry for a release.", "Keep it short.")
    catalog = load_catalog(home, home, None)
    one = SkillSettings(max_per_task=1)

    async def chosen(task_id: str) -> list[str]:
        picked = await choose_for_task(
            store, catalog, task_id, "write the changelog entry for the release", asked_for=None,
            token_limit=5000, settings=one,
        )  # fmt: skip
        return picked.names

    session = Session(kind="terminal")
    await store.sessions.create(session)
    probe = (await store.tasks.create(Task(session_id=session.id, description="p", status=TaskStatus.RUNNING))).id
    assert await chosen(probe) == ["changelog-a"], "a tie goes by name"
    versions = {name: skill.digest for name in ("changelog-a", "changelog-b") if (skill := catalog.task(name))}
    for _ in range(3):
        await _finished_task(store, "changelog-a", 0.35, versions["changelog-a"])
        await _finished_task(store, "changelog-b", 0.95, versions["changelog-b"])
    assert await chosen(probe) == ["changelog-b"]
    outcomes = await store.skill_uses.outcomes(["changelog-a", "changelog-b"])
    assert effectiveness_of("changelog-b", outcomes).value == pytest.approx(0.95)
    assert effectiveness_of("changelog-a", outcomes).describe() == "0.35 (3 scored tasks)"
    assert [u.skill for u in await store.skill_uses.for_task(probe)] == ["changelog-b"], "recorded on the task"
    # The probe is still running: it has no outcome yet and does not count.
    assert (await store.skill_uses.outcomes(["changelog-b"]))["changelog-b"].tasks == 3


async def test_an_edited_or_replaced_skill_starts_its_own_record(store: Store, tmp_path: Path) -> None:
    """Issue 16: effectiveness is kept per skill version (source + content hash), not per name."""
    home = tmp_path / "skills-home"
    write_skill(home / "skills" / "managed", "changelog", "Write a changelog entry for a release.", "Keep it short.")
    first = load_catalog(home, home, None).task("changelog")
    assert first is not None and len(first.digest) == 12
    for _ in range(3):
        await _finished_task(store, "changelog", 0.9, first.digest, "managed")
    for _ in range(2):  # recorded before versions were kept: which text they used is unknown
        await _finished_task(store, "changelog", 0.2)
    outcomes = await store.skill_uses.version_outcomes(["changelog"])
    assert of_version(first, outcomes).describe() == "0.90 (3 scored tasks)"
    before = outcomes[SkillVersion("changelog", "", None)]
    assert (
        before.scored == 2
        and before.score_sum == pytest.approx(0.4)
        and SkillVersion("changelog", "", None).before_versions
    )
    assert effectiveness_of("changelog", await store.skill_uses.outcomes(["changelog"])).value == pytest.approx(0.62)

    write_skill(home / "skills" / "managed", "changelog", "Write a changelog entry for a release.", "Keep it shorter.")
    edited = load_catalog(home, home, None).task("changelog")
    assert edited is not None and edited.digest != first.digest
    assert of_version(edited, outcomes).describe() == "not measured yet", "an edited skill starts again"
    write_skill(home / "skills" / "user", "changelog", "Write a changelog entry for a release.", "Keep it short.")
    replaced = load_catalog(home, home, None).task("changelog")
    assert replaced is not None and replaced.source is Source.USER
    assert of_version(replaced, outcomes).samples == 0, "so does one replaced by another source"

    session = Session(kind="terminal")
    await store.sessions.create(session)
    probe = (await store.tasks.create(Task(session_id=session.id, description="p", status=TaskStatus.RUNNING))).id
    catalog = load_catalog(home, home, None)
    await choose_for_task(
        store, catalog, probe, "write the changelog entry", asked_for="changelog", token_limit=5000,
        settings=SkillSettings(),
    )  # fmt: skip
    (use,) = await store.skill_uses.for_task(probe)
    assert (use.skill, use.source, use.version) == ("changelog", "user", replaced.digest), "recorded with its version"


def _skill(name: str, body: str, requirements: Requirements | None = None) -> Skill:
    return Skill(name, "task", "", (), requirements or Requirements(), True, True, body, Source.USER, f"/s/{name}")


def test_skills_fit_their_token_share_in_order() -> None:
    choices = [
        Choice(_skill(name, body), 0.5, 0.0, effectiveness_of(name, {}))
        for name, body in [("small", "a short skill"), ("huge", "line of advice\n" * 400), ("tail", "more")]
    ]
    whole = fit(choices, 10_000)
    assert [(i.choice.skill.name, i.clipped) for i in whole] == [("small", False), ("huge", False), ("tail", False)]
    squeezed = fit(choices, 300)
    assert [(i.choice.skill.name, i.clipped) for i in squeezed] == [("small", False), ("huge", True)]
    assert squeezed[1].text.endswith(CLIP_MARK) and sum(i.tokens for i in squeezed) <= 300
    assert [i.choice.skill.name for i in fit(choices, 30)] == ["small", "tail"], "too little room to cut 'huge' into"
    assert fit(choices, 0) == []
    asked = Choice(choices[1].skill, 1.0, 1.0, choices[1].effectiveness, forced=True)
    (kept,) = fit([asked, *choices[2:]], 0)  # a skill asked for by name is never left out
    assert kept.choice is asked and kept.clipped and kept.tokens <= MIN_CLIPPED_TOKENS


async def test_lexical_similarity_ranks_the_related_skill_first() -> None:
    documents = ["Rotate and refresh JWT auth tokens safely.", "Compose haiku about autumn leaves.", ""]
    scores = await LexicalSimilarity().scores("rotate our auth tokens", documents)
    assert scores[0] > 0.3 and scores[1] == 0.0 and scores[2] == 0.0
    assert await LexicalSimilarity().scores("anything", []) == []
