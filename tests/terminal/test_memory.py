"""``openkoi memory …`` and the memory figures of ``openkoi status``, end to end through the console
script; ``status`` reads them without importing onnxruntime, numpy or litellm."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from bots.terminal.memory import doctor_checks, status_lines
from core.config import Settings
from core.models import Scope
from core.store import Store, vectors
from tests.fakes import scripts
from tests.fakes.model_server import FakeModelServer
from tests.support import probe_command
from tests.terminal import test_e2e as e2e

server = e2e.server
env = e2e.env
openkoi = e2e.openkoi

JWT = "JWT refresh tokens must be rotated on every use and the old one revoked"


def test_memory_commands_end_to_end(env: dict[str, str], server: FakeModelServer, tmp_path: Path) -> None:
    workspace = tmp_path / "api"
    workspace.mkdir()
    server.script.queue("Learnings", scripts.learnings(JWT))
    first = openkoi(
        env, "think", "review how the billing service rotates its auth tokens", "--workspace", str(workspace)
    )
    assert first.returncode == 0, first.stderr

    listed = openkoi(env, "memory", "list")
    assert listed.returncode == 0, listed.stderr
    [line] = listed.stdout.splitlines()
    memory_id = line.split()[0]
    assert "heuristic    0.80" in line and f"[workspace:{workspace.resolve()}] {JWT[:40]}" in line

    shown = openkoi(env, "memory", "show", memory_id[:6])
    assert shown.returncode == 0, shown.stderr
    assert f"text       {JWT}" in shown.stdout
    assert "confidence 0.80 as learnt, 0.80 now" in shown.stdout
    assert "embedded   local:all-MiniLM-L6-v2-int8" in shown.stdout and "used by    0 tasks" in shown.stdout

    second = openkoi(env, "think", "review how we rotate our auth tokens", "--workspace", str(workspace), "-v")
    assert second.returncode == 0, second.stderr
    assert "[recall] 1 learnings" in second.stderr
    task_id = re.findall(r"^([0-9a-f]{16})", openkoi(env, "task", "list").stdout, re.M)[0]  # newest first
    task_shown = openkoi(env, "task", "show", task_id)
    assert re.search(r"recall   1 memories, \d+ tokens, [\d.]+ ms", task_shown.stdout), task_shown.stdout
    assert "used by    1 tasks" in openkoi(env, "memory", "show", memory_id).stdout

    status = openkoi(env, "status")
    assert status.returncode == 0, status.stderr
    assert "memories: 1 (heuristic 1)" in status.stdout
    assert "memory index: sqlite-vec v0.1.9, 1 vectors x 384 dims" in status.stdout
    assert "embedder: local" in status.stdout

    marked = openkoi(env, "memory", "global", memory_id)
    assert marked.returncode == 0 and "recalled in every scope" in marked.stdout
    assert "global" in openkoi(env, "memory", "list", "--scope", "global").stdout
    reindexed = openkoi(env, "memory", "reindex")
    assert reindexed.returncode == 0, reindexed.stderr
    assert "embedded 0 memories; index: sqlite-vec v0.1.9, 1 vectors" in reindexed.stdout

    forgot = openkoi(env, "memory", "forget", memory_id[:8], "--yes")
    assert forgot.returncode == 0 and f"forgot memory {memory_id}" in forgot.stdout
    assert openkoi(env, "memory", "list").stdout.strip() == "no memories yet"
    missing = openkoi(env, "memory", "show", memory_id)
    assert missing.returncode == 2 and f"no memory with id '{memory_id}'" in missing.stderr


def test_status_shows_memory_figures_without_loading_the_embedder(env: dict[str, str]) -> None:
    probed = probe_command(["status"], ["onnxruntime", "numpy", "litellm", "tokenizers"], env)
    printed = probed.printed
    assert probed.imported == [], probed
    assert "memories: 0" in printed and "memory index: sqlite-vec v0.1.9, empty" in printed, printed


def refuse(conn: object) -> None:
    raise sqlite3.OperationalError("not authorized")


async def test_status_and_doctor_say_when_recall_falls_back_to_exact_cosine(
    settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert ("ok", "memory index: sqlite-vec v0.1.9", "") in doctor_checks(settings)
    monkeypatch.setattr(vectors, "load_extension", refuse)
    [index, embedder] = doctor_checks(settings)
    assert index[0] == "warn" and "sqlite-vec does not load (OperationalError: not authorized)" in index[1]
    assert "recall still works, by exact cosine in Python" in index[2]
    assert embedder[0] == "ok" and "all-MiniLM-L6-v2" in embedder[1]
    await store.memories.add("preference", "Answers start with the command to run", 0.7, Scope(), None)
    lines = await status_lines(settings, store)
    assert "memories: 1 (preference 1); 1 not embedded yet (openkoi memory reindex)" in lines
    assert "memory index: exact cosine in Python (sqlite-vec did not load: OperationalError: not authorized)" in lines
