"""Pattern mining with the real local embedder: planted patterns are found with hand-computed support
and confidence, shuffled noise yields none, and proposals are drafted (model or template) once."""

from __future__ import annotations

import random
import sqlite3
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from core.config import Settings, load_settings
from core.llm.gateway import ModelGateway
from core.memory.embedder import LocalEmbedder
from core.reflection.clustering import EXACT_LIMIT, cluster, connected_components
from core.reflection.mining import mine
from core.reflection.proposals import check_skill_md
from core.reflection.proposer import run_pattern_mining
from core.store import Store
from core.store.proposals import Proposal
from tests.fakes.model_server import FakeModelServer, json_reply
from tests.usage_log import Asked, insert

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2025, 3, 31, 12, 0, tzinfo=ZoneInfo("UTC"))


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=BERLIN)


REPORT = [  # four Monday mornings, and once on a Wednesday afternoon
    Asked("report-1", "Write the Monday status report", at(3, 8, 30), "slack:U1", "C-team"),
    Asked("report-2", "write the monday status report.", at(10, 9, 0), "slack:U1", "C-team"),
    Asked("report-3", "Write the Monday status report", at(17, 8, 45), "slack:U1", "C-team"),
    Asked("report-4", "Write the  Monday status report!", at(24, 10, 15), "slack:U1", "C-team"),
    Asked("report-5", "Write the Monday status report", at(12, 15, 0), "slack:U1", "C-team"),
]
CERTS = [  # paraphrased, on four days, one retried ten minutes later
    Asked("certs-1", "Rotate the staging certs", at(4, 10), "slack:U2", "C-ops"),
    Asked("certs-2", "rotate the certs on staging", at(11, 14), "slack:U2", "C-ops"),
    Asked("certs-3", "please rotate staging certs", at(18, 9), "slack:U2", "C-ops"),
    Asked("certs-4", "Rotate the staging certificates", at(25, 16), "slack:U2", "C-ops"),
    Asked("certs-5", "rotate the staging certs", at(25, 16, 10), "slack:U2", "C-ops"),
]
DEPLOY_DAYS = (5, 7, 13, 18, 27)  # Wed, Fri, Thu, Tue, Thu: no weekday slot holds three
DEPLOYS = [
    Asked(f"deploy-{i}", "deploy the billing service to production", at(d, 14), "slack:U3", "C-rel")
    for i, d in enumerate(DEPLOY_DAYS, 1)
]
ANNOUNCES = [  # after four of the five deploys, within the hour
    Asked(f"announce-{i}", "announce the billing deploy in #releases", at(d, 14, 20), "slack:U3", "C-rel")
    for i, d in enumerate(DEPLOY_DAYS[:4], 1)
]
NOISE_TEXTS = [
    "summarise the README", "write a haiku about autumn", "explain this stack trace from the parser",
    "translate the onboarding guide into German", "draft a reply to the customer about invoices",
    "find why the login page is slow", "review the SQL migration for the users table", "plan the team offsite",
    "compare three logging libraries", "write unit tests for the date parser", "list the open Jira tickets",
    "rename the config keys to snake case", "check the licence of our dependencies", "what is our error budget",
    "sketch an API for the mobile app", "clean up the unused feature flags", "estimate the cloud bill for May",
    "outline a talk about SQLite", "refactor the payment retry loop", "benchmark the JSON encoder",
    "write a postmortem for the DNS outage", "create a diagram of the auth flow", "proofread the job posting",
    "suggest names for the new service", "convert the CSV export to parquet", "audit who has admin access",
    "document the backup restore procedure", "triage the flaky integration test", "upgrade the Python version",
    "design a schema for audit logs",
]  # fmt: skip


def noise(rng: random.Random) -> list[Asked]:
    texts = NOISE_TEXTS[:]
    rng.shuffle(texts)
    return [
        Asked(
            f"noise-{i}",
            text,
            at(rng.randint(1, 30), rng.randint(0, 23), rng.randint(0, 59)),
            f"slack:U{rng.randint(10, 12)}",
            f"C-{rng.randint(1, 2)}",
        )
        for i, text in enumerate(texts)
    ]


@pytest.fixture
def team(home: Path) -> Settings:
    settings = load_settings()
    settings.schedule.timezone = "Europe/Berlin"
    return settings


async def _seeded(settings: Settings, *groups: list[Asked]) -> Store:
    store = await Store(settings.db_path).open()
    conn = sqlite3.connect(settings.db_path)
    insert(conn, [a for group in groups for a in group])
    conn.close()
    return store


async def test_planted_patterns_are_found_with_hand_computed_figures(
    team: Settings, local_embedder: LocalEmbedder
) -> None:
    store = await _seeded(team, REPORT, CERTS, DEPLOYS, ANNOUNCES, noise(random.Random(3)))
    try:
        mined = await mine(store.db, team, local_embedder, NOW)
        found = {(p.kind, p.title): p for p in mined.patterns}
        figures = {key: (p.support, p.confidence) for key, p in found.items()}
        assert figures == {
            ("recurring", "Write the Monday status report"): (5, 1.0),  # 5 days / 5 tasks
            ("time", "Write the Monday status report"): (4, 0.8),  # 4 of 5 on Monday mornings
            ("recurring", "Rotate the staging certs"): (5, 0.8),  # 4 days / 5 tasks
            ("recurring", "deploy the billing service to production"): (5, 1.0),
            ("recurring", "announce the billing deploy in #releases"): (4, 1.0),
            ("sequence", "deploy the billing service to production, then announce the billing deploy in #releases"): (
                4,
                0.8,
            ),  # 4 of 5 deploys followed within the hour
        }
        time = found[("time", "Write the Monday status report")]
        assert time.when == "Monday morning (08:30-10:15, Europe/Berlin)"
        assert time.evidence == ("report-1", "report-2", "report-3", "report-4")
        certs = found[("recurring", "Rotate the staging certs")]
        assert set(certs.evidence) == {a.task_id for a in CERTS}
        sequence = next(p for p in mined.patterns if p.kind == "sequence")
        assert set(sequence.evidence) == {f"deploy-{i}" for i in range(1, 5)} | {a.task_id for a in ANNOUNCES}
        assert mined.texts_embedded == mined.texts and mined.texts_pending == 0
        # Stable keys: the same log in another order, mined again, gives the same patterns.
        again = await mine(store.db, team, local_embedder, NOW)
        assert again.patterns == mined.patterns and again.texts_embedded == 0
    finally:
        await store.close()


async def test_shuffled_noise_has_no_patterns(team: Settings, local_embedder: LocalEmbedder) -> None:
    store = await _seeded(team, noise(random.Random(11)))
    try:
        mined = await mine(store.db, team, local_embedder, NOW)
        assert mined.patterns == [] and mined.tasks == len(NOISE_TEXTS)
    finally:
        await store.close()


async def test_min_samples_and_min_confidence_are_respected(team: Settings, local_embedder: LocalEmbedder) -> None:
    store = await _seeded(team, REPORT, CERTS, DEPLOYS, ANNOUNCES)
    try:
        team.patterns.min_samples = 6
        assert (await mine(store.db, team, local_embedder, NOW)).patterns == []
        team.patterns.min_samples, team.patterns.min_confidence = 3, 0.9
        kept = (await mine(store.db, team, local_embedder, NOW)).patterns
        assert sorted((p.kind, p.support, p.confidence) for p in kept) == [
            ("recurring", 4, 1.0),
            ("recurring", 5, 1.0),
            ("recurring", 5, 1.0),
        ]
    finally:
        await store.close()


async def test_new_texts_per_run_are_capped_and_embedded_next_run(
    team: Settings, local_embedder: LocalEmbedder
) -> None:
    store = await _seeded(team, CERTS, noise(random.Random(5)))
    try:
        team.patterns.max_new_texts = 10
        first = await mine(store.db, team, local_embedder, NOW)
        assert first.texts_embedded == 10 and first.texts_pending == first.texts - 10
        team.patterns.max_new_texts = 1000
        second = await mine(store.db, team, local_embedder, NOW)
        assert second.texts_embedded == first.texts_pending and second.texts_pending == 0
        assert [p.kind for p in second.patterns] == ["recurring"]
    finally:
        await store.close()


async def test_proposals_once_and_a_dismissed_pattern_only_when_its_evidence_doubles(
    team: Settings, local_embedder: LocalEmbedder
) -> None:
    store = await _seeded(team, REPORT, CERTS, DEPLOYS, ANNOUNCES, noise(random.Random(3)))
    try:
        report = await run_pattern_mining(store, team, local_embedder, None, now=NOW)
        kinds = sorted((p.kind, p.name, p.drafted_by) for p in report.proposals)
        assert kinds == [
            ("recurring", "rotate-the-staging-certs", "template"),
            ("sequence", "deploy-the-billing-then-announce-the-billing", "template"),
            ("time", "monday-morning-write-the-monday-status-report", "template"),
        ]
        for proposal in report.proposals:
            check_skill_md(proposal)
        assert sum("covered by" in why for _, why in report.skipped) == 3  # report, deploy, announce alone
        assert "3 new proposals" in report.summary

        again = await run_pattern_mining(store, team, local_embedder, None, now=NOW)
        assert again.proposals == [] and sum("already pending" in why for _, why in again.skipped) == 3

        certs = next(p for p in report.proposals if p.kind == "recurring")
        assert await store.proposals.decide(certs.id, "dismissed", "slack:U9")
        conn = sqlite3.connect(team.db_path)
        more = [Asked(f"certs-more-{i}", "rotate the staging certs", at(d, 11), "slack:U2", "C-ops") for i, d in
                enumerate((6, 13, 20, 26), 1)]  # fmt: skip
        insert(conn, more)
        conn.commit()
        nine = await run_pattern_mining(store, team, local_embedder, None, now=NOW)
        assert nine.proposals == []
        assert (certs.pattern_key, f"dismissed (proposal {certs.id[:8]} at support 5); support 9 has not doubled") in (
            nine.skipped
        )
        insert(conn, [Asked("certs-more-5", "rotate the staging certs", at(28, 11), "slack:U2", "C-ops")])
        conn.close()
        ten = await run_pattern_mining(store, team, local_embedder, None, now=NOW)
        assert [(p.pattern_key, p.support) for p in ten.proposals] == [(certs.pattern_key, 10)]
        assert ten.proposals[0].name == certs.name  # the same skill, proposed again
    finally:
        await store.close()


DRAFT = {
    "name": "rotate-staging-certs",
    "description": "Rotate the staging TLS certificates the way the ops channel asks for it.",
    "categories": ["ops", "tls"],
    "instructions": "1. List the staging certificates that expire soon.\n2. Renew them and reload the ingress.",
}


async def test_the_model_drafts_a_proposal_recorded_under_learn(
    model_env: FakeModelServer, team: Settings, local_embedder: LocalEmbedder
) -> None:
    model_env.script.queue("SkillDraft", json_reply(DRAFT))
    store = await _seeded(team, CERTS)
    try:
        gateway = ModelGateway(team, usage=store.usage)
        report = await run_pattern_mining(store, team, local_embedder, gateway, now=NOW)
        (proposal,) = report.proposals
        assert proposal.drafted_by == "openai/fake" and proposal.name == "rotate-staging-certs"
        assert "Renew them and reload the ingress." in proposal.skill_md
        check_skill_md(proposal)
        asked = model_env.requests_of("SkillDraft")
        assert len(asked) == 1 and "please rotate staging certs" in str(asked[0]["messages"])
        rows = await store.db.fetchall("SELECT phase, role, task_id FROM usage")
        assert [tuple(r) for r in rows] == [("learn", "planner", None)]
    finally:
        await store.close()


async def _drafted_as(model_env: FakeModelServer, team: Settings, local_embedder: LocalEmbedder, name: str) -> Proposal:
    """Mine CERTS while the model drafts DRAFT under ``name``: the one proposal made, its SKILL.md checked."""
    model_env.script.queue("SkillDraft", json_reply({**DRAFT, "name": name}))
    store = await _seeded(team, CERTS)
    try:
        report = await run_pattern_mining(store, team, local_embedder, ModelGateway(team), now=NOW)
        (proposal,) = report.proposals
        check_skill_md(proposal)
        return proposal
    finally:
        await store.close()


async def test_a_draft_named_like_an_existing_skill_gets_a_free_name(
    model_env: FakeModelServer, team: Settings, local_embedder: LocalEmbedder
) -> None:
    proposal = await _drafted_as(model_env, team, local_embedder, "self-iterate")
    assert proposal.drafted_by == "openai/fake" and proposal.name == "self-iterate-2"


async def test_an_invalid_model_draft_falls_back_to_the_template(
    model_env: FakeModelServer, team: Settings, local_embedder: LocalEmbedder
) -> None:
    proposal = await _drafted_as(model_env, team, local_embedder, "Rotate Staging Certs!")
    assert proposal.drafted_by == "template" and proposal.name == "rotate-the-staging-certs"


async def test_an_unreachable_model_falls_back_to_the_template(
    team: Settings, local_embedder: LocalEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = FakeModelServer()
    await down.start()
    url = down.url
    await down.stop()  # nothing listens there any more
    monkeypatch.setenv("OPENKOI_MODEL", "openai/fake")
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    settings = load_settings()
    settings.schedule.timezone = "Europe/Berlin"
    settings.retry.max_attempts = 1
    store = await _seeded(settings, CERTS)
    try:
        report = await run_pattern_mining(store, settings, local_embedder, ModelGateway(settings), now=NOW)
        (proposal,) = report.proposals
        assert proposal.drafted_by == "template"
        check_skill_md(proposal)
        assert "please rotate staging certs" in proposal.skill_md
    finally:
        await store.close()


def test_clustering_past_the_exact_limit_is_close_to_comparing_every_pair() -> None:
    # 4,000 unrelated texts and 200 groups of three paraphrases (cosine ≥ 0.9), as isotropic random
    # vectors (the worst case for pivots): past EXACT_LIMIT, pairs come from pivot buckets, which may
    # split a group (rarely, with four pivots per text) but never join texts that are not close.
    rng = np.random.default_rng(3)
    unrelated = rng.standard_normal((4000, 384)).astype(np.float32)
    seeds = rng.standard_normal((200, 384)).astype(np.float32)
    seeds /= np.linalg.norm(seeds, axis=1, keepdims=True)
    paraphrases = np.repeat(seeds, 3, axis=0) + 0.015 * rng.standard_normal((600, 384)).astype(np.float32)
    vectors = np.concatenate([unrelated, paraphrases])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert len(vectors) > EXACT_LIMIT
    left, right = np.nonzero(np.triu(vectors @ vectors.T >= 0.85, k=1))
    exact = [int(x) for x in connected_components(len(vectors), [(left.astype(np.int64), right.astype(np.int64))])]
    assert len(set(exact[4000:])) == 200 and len(set(exact)) == 4200  # the groups, and nothing else
    labels = cluster(vectors, 0.85)
    assert labels[:4000] == list(range(4000)), "an unrelated text was joined to another"
    split = sum(len(set(labels[4000 + 3 * g : 4003 + 3 * g])) > 1 for g in range(200))
    assert split <= 6, f"{split} of 200 groups of paraphrases were split"
    assert all(
        labels[i] in range(4000 + 3 * ((i - 4000) // 3), 4003 + 3 * ((i - 4000) // 3)) for i in range(4000, 4600)
    )
