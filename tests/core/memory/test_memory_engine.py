"""Memory inside the engine: recall feeds the plan and execution within its token share and is
recorded on the task; chat tasks learn and recall in their channel; a broken embedder never fails
a task; old transcripts are compacted into summaries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bots.chat.platform import InboundCommand
from core.config import Settings
from core.engine import Engine
from core.events import Notice, Recalled
from core.memory.compaction import compact_transcripts
from core.memory.embedder import EmbedderUnavailable, LocalEmbedder
from core.memory.memory import Memory
from core.models import LoopDecision, Scope, Session, Task, TaskOptions, TaskStatus, utcnow
from core.store import Store
from core.text import estimated_tokens
from tests.chat.test_core import ALICE, attach, think
from tests.chat_service import running_service, service_settings
from tests.conftest import Recorder
from tests.fakes import scripts
from tests.fakes.model_server import FakeModelServer, Reply

NOTES = [
    f"SQLite note {n}: with many concurrent writers use WAL journal mode, keep write transactions short, "
    f"set a busy timeout of {n} seconds, batch inserts in one transaction, and never hold a write lock while "
    "waiting on the network; readers then never block the writer and the writer never blocks readers."
    for n in range(1, 31)
]


def prompt_text(body: dict[str, Any]) -> str:
    return "\n".join(str(m["content"]) for m in body["messages"])


def workspace_scope(engine: Engine) -> Scope:
    assert engine.workspace is not None
    return Scope(workspace=str(engine.workspace.resolve()))


async def test_recall_stays_within_its_token_share_feeds_plan_and_execution_and_is_recorded(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder, local_embedder: LocalEmbedder
) -> None:
    engine._memory = Memory(engine.settings, engine.store, local_embedder)
    for note in NOTES:  # stored without embeddings, as migrated learnings are: embedded on first recall
        await engine.store.memories.add("heuristic", note, 0.8, workspace_scope(engine), None)
    engine.settings.iteration.recall_share = 0.02
    task = await engine.submit(
        "make our sqlite database handle concurrent writers", options=TaskOptions(token_budget=100_000)
    )
    await engine.run(task.id)

    share = 2000  # 2 % of 100,000 tokens
    trace = await engine.store.tasks.trace(task.id)
    assert trace.recall_memories is not None and trace.recall_tokens is not None and trace.recall_ms is not None
    assert 0 < trace.recall_memories < len(NOTES), "the share cut the recall short"
    assert 0 < trace.recall_tokens <= share and trace.recall_ms > 0
    [event] = recorder.of(Recalled)
    assert (event.learnings, event.tokens) == (trace.recall_memories, trace.recall_tokens)
    recalled_lines = [
        line for line in prompt_text(model_env.requests_of("execute")[0]).splitlines() if "SQLite note" in line
    ]
    assert len(recalled_lines) == trace.recall_memories
    assert sum(estimated_tokens(line) for line in recalled_lines) == trace.recall_tokens
    assert "SQLite note" in prompt_text(model_env.requests_of("Plan")[0])
    assert await engine.store.memories.count_unembedded() == 0
    uses = await engine.store.db.fetchone("SELECT COUNT(*) FROM memory_uses WHERE task_id = ?", (task.id,))
    assert uses is not None and uses[0] == trace.recall_memories


async def test_a_chat_task_learns_in_its_channel_and_other_scopes_do_not_recall_it(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    s = model_env.script
    channel = Scope(platform="slack", channel="C1", team="T1")
    s.queue("Learnings", scripts.learnings("JWT refresh tokens must be rotated on every use and the old one revoked"))
    first = await engine.submit("review how the billing service rotates its auth tokens", source="slack", scope=channel)
    assert (await engine.store.tasks.get(first.id)).scope == channel
    await engine.run(first.id)
    [learnt] = await engine.store.memories.for_task(first.id)
    assert learnt.scope_key == "channel:slack:C1" and learnt.embedder is not None

    terminal = await engine.submit("review how we rotate our auth tokens")
    assert terminal.scope == workspace_scope(engine)
    await engine.run(terminal.id)
    again = await engine.submit(
        "review how we rotate our auth tokens", source="slack", scope=Scope(platform="slack", channel="C1")
    )
    await engine.run(again.id)
    counts = {e.task_id: e.learnings for e in recorder.of(Recalled)}
    assert counts[terminal.id] == 0 and counts[again.id] == 1
    assert "JWT refresh tokens" in prompt_text(model_env.requests_of("execute")[-1])


class BrokenEmbedder:
    name = "lab/embed"

    async def embed(self, texts: list[str]) -> Any:
        raise EmbedderUnavailable("lab/embed gave no embeddings: connection refused")


async def test_an_embedder_that_cannot_run_never_fails_the_task(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    engine._memory = Memory(engine.settings, engine.store, BrokenEmbedder())
    await engine.store.memories.add("heuristic", "Prefer WAL mode", 0.8, workspace_scope(engine), None)
    model_env.script.queue("Learnings", scripts.learnings("Keep write transactions short"))
    task = await engine.submit("tune sqlite")
    result = await engine.run(task.id)
    assert result.status is TaskStatus.DONE
    assert any("no memories recalled: lab/embed gave no embeddings" in n.text for n in recorder.of(Notice))
    [learnt] = await engine.store.memories.for_task(task.id)
    assert learnt.text == "Keep write transactions short" and learnt.embedder is None  # embedded later


async def test_old_transcripts_are_compacted_into_a_recallable_summary(
    engine: Engine, model_env: FakeModelServer, memory: Memory
) -> None:
    s = model_env.script
    s.queue("execute", Reply(content="# Token rotation\nRotate refresh tokens on every use; revoke the old one."))
    s.queue("Evaluation", scripts.evaluation(6, [scripts.finding("safety")]), scripts.evaluation(9))
    old = await engine.submit("write a runbook for rotating auth tokens", options=TaskOptions(max_iterations=3))
    await engine.run(old.id)
    recent = await engine.submit("write a runbook for restarting the queue")
    await engine.run(recent.id)
    cycles_before = await engine.store.cycles.for_task(old.id)
    output_before = (await engine.store.tasks.get(old.id)).output
    assert len(cycles_before) == 2 and all(c.output for c in cycles_before)
    aged = (utcnow() - timedelta(days=45)).isoformat()
    await engine.store.db.execute("UPDATE tasks SET updated_at = ? WHERE id = ?", (aged, old.id))

    done = await compact_transcripts(memory)
    assert done.tasks == 1 and done.chars_freed > 0
    [summary] = await engine.store.memories.for_task(old.id)
    assert summary.kind == "summary" and summary.id == done.summaries[0]
    assert summary.scope == (await engine.store.tasks.get(old.id)).scope
    assert (
        "write a runbook for rotating auth tokens" in summary.text and "score 0.90 after 2 iterations" in summary.text
    )
    assert all(c.output == "" and c.evaluation_json is None for c in await engine.store.cycles.for_task(old.id))
    kept = await engine.store.tasks.get(old.id)
    assert kept.output is not None and kept.output == output_before  # the result itself stays
    assert [c.score for c in await engine.store.cycles.for_task(old.id)] == [c.score for c in cycles_before]
    assert all(c.output for c in await engine.store.cycles.for_task(recent.id))  # too young

    again = await compact_transcripts(memory)
    assert again.tasks == 0 and len(await engine.store.memories.for_task(old.id)) == 1
    found = await memory.recall("rotate our auth tokens", kept.scope, 2000)
    assert summary.id in found.ids


async def test_compaction_with_a_custom_summarizer_and_age(settings: Settings, store: Store, memory: Memory) -> None:
    session = Session(title="t")
    await store.sessions.create(session)
    task = await store.tasks.create(Task(session_id=session.id, description="summarise the quarterly numbers"))
    await store.cycles.record(
        task_id=task.id, iteration=1, output="Revenue grew 12%.", output_hash="h", revision=False, evaluation=None,
        score=None, dimension_scores=None, decision=LoopDecision.ACCEPT,
        decision_reason="ok", incremental=False, skipped=False, tokens=10, duration_ms=5,
    )  # fmt: skip
    await store.tasks.update(task.id, status=TaskStatus.DONE, output="Revenue grew 12%.")

    async def model_summary(transcript: Any) -> str:
        return f"Quarterly numbers: {transcript.task.output}"

    assert (await compact_transcripts(memory, older_than=timedelta(days=1))).tasks == 0
    done = await compact_transcripts(memory, older_than=timedelta(0), summarizer=model_summary)
    assert done.tasks == 1 and done.chars_freed == len("Revenue grew 12%.")
    assert (await store.memories.get(done.summaries[0])).text == "Quarterly numbers: Revenue grew 12%."
    assert await store.transcripts.compacted_at(task.id) is not None


async def test_chat_ingress_scopes_a_task_to_its_channel_and_guild(settings: Settings) -> None:
    async with running_service(settings, service_settings()) as svc:
        await attach(svc)
        reply = await svc.ingress.handle(think("rotate our auth tokens", channel="C7"))
        assert reply is not None and reply.task_id is not None
        assert (await svc.store.tasks.get(reply.task_id)).scope == Scope(platform=ALICE.platform, channel="C7")
        guild = InboundCommand(ALICE.platform, "k2", ALICE, "C8", "rotate our auth tokens", origin={"guild_id": "G1"})
        reply = await svc.ingress.handle(guild)
        assert reply is not None and reply.task_id is not None
        assert (await svc.store.tasks.get(reply.task_id)).scope == Scope(
            platform=ALICE.platform, channel="C8", team="G1"
        )
