"""Every benchmark, run at a tiny size on each default test run, so that none can rot unnoticed.

Each runs as it is run by hand, ``python -m tests.benchmarks.<name> --tiny``, in its own interpreter:
a benchmark owns its process (it replaces the environment, refuses connections off the machine,
spawns helper processes). A test checks that the scenario's own checks held (a broken scenario exits
1 with "benchmark scenario broken: …") and that its one JSON line has the figures it promises, with
sane values: counts equal to the size asked for, no errors. No timing is asserted.

Most of a tiny run is interpreter start-up, imports and waiting on fakes, so the benchmarks that the
session selected all start together when the first of these tests runs, and each test waits for its
own: about half the wall time of running them one after another on two cores.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.benchmarks import (
    ack_latency,
    api_post,
    cli_startup,
    engine_overhead,
    history,
    mining,
    page_load,
    recall_latency,
    tool_call,
)

ROOT = Path(__file__).resolve().parents[2]
# Longest first, so the slowest is never the last to start.
BENCHMARKS = (
    "ack_latency", "engine_overhead", "recall_latency", "token_savings", "mining", "cli_startup", "history",
    "tool_call", "api_post", "page_load",
)  # fmt: skip
DEADLINE = 110.0  # seconds from the launch for each; under pytest's own 120 s per test


@dataclass
class Run:
    """One benchmark's process, with its stdout and stderr in files (a pipe nobody reads can fill up)."""

    name: str
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    started: float

    def figures(self) -> dict[str, Any]:
        """Wait for the run; its one JSON line, after checking that it exited 0 and printed nothing else."""
        try:
            self.process.wait(timeout=max(1.0, self.started + DEADLINE - time.monotonic()))
        except subprocess.TimeoutExpired:
            stop(self.process)
            pytest.fail(f"{self.name} did not finish within {DEADLINE:.0f} s\n{self.tail()}")
        assert self.process.returncode == 0, f"{self.name} exited {self.process.returncode}\n{self.tail()}"
        lines = [line for line in self.stdout.read_text().splitlines() if line.strip()]
        assert len(lines) == 1, f"{self.name} printed {len(lines)} lines on stdout, not one JSON line\n{self.tail()}"
        figures: dict[str, Any] = json.loads(lines[0])
        assert figures["bench"] == self.name
        return figures

    def tail(self) -> str:
        return "stderr (end):\n" + self.stderr.read_text(errors="replace")[-3000:]


def stop(process: subprocess.Popen[bytes]) -> None:
    """End a run and the helper processes it spawned (they share its process group)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def wanted(request: pytest.FixtureRequest) -> list[str]:
    """The benchmarks whose tests this session runs (each test's name starts with test_<benchmark>)."""
    names = {item.name for item in request.session.items if getattr(item, "module", None) is request.module}
    return [b for b in BENCHMARKS if any(n.startswith(f"test_{b}") for n in names)]


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    out = tmp_path_factory.mktemp("benchmarks")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    started: dict[str, Run] = {}
    try:
        for name in wanted(request):
            stdout, stderr = out / f"{name}.out", out / f"{name}.err"
            with stdout.open("wb") as o, stderr.open("wb") as e:
                process = subprocess.Popen(
                    [sys.executable, "-m", f"tests.benchmarks.{name}", "--tiny"],
                    cwd=ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=o,
                    stderr=e,
                    start_new_session=True,  # its own process group, so that stop() reaches its helpers
                )
            started[name] = Run(name, process, stdout, stderr, time.monotonic())
        yield started
    finally:
        for run in started.values():
            stop(run.process)


def finite(*values: Any) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values)


def test_ack_latency_acks_and_saves_every_command(runs: dict[str, Run]) -> None:
    f = runs["ack_latency"].figures()
    assert (f["n"], f["concurrency"]) == (ack_latency.TINY_N, ack_latency.TINY_CONCURRENCY)
    assert f["errors"] == 0
    assert f["tasks_persisted"] == ack_latency.TINY_N, "every ack must mean a saved task"
    assert finite(f["p50_ms"], f["p99_ms"], f["max_ms"]) and 0 < f["p50_ms"] <= f["p99_ms"] <= f["max_ms"]
    assert finite(f["cpu_ms_per_ack"], f["loop_cpu_ms_per_ack"]) and 0 < f["loop_cpu_ms_per_ack"] <= f["cpu_ms_per_ack"]
    assert finite(f["rss_idle_mb"], f["rss_peak_mb"]) and f["rss_idle_mb"] > 0 and f["rss_peak_mb"] > 0


def test_engine_overhead_runs_every_task_through_three_iterations(runs: dict[str, Run]) -> None:
    f = runs["engine_overhead"].figures()
    tasks, latency = engine_overhead.TINY_TASKS, engine_overhead.TINY_LATENCY
    assert f["tasks"] == tasks and f["latency_ms"] == latency * 1000
    assert f["model_calls"] == tasks * engine_overhead.CALLS_PER_TASK, "a repair or a missing call"
    assert finite(f["wall_s"]) and f["wall_s"] >= f["model_calls"] * latency
    per_call = ("overhead", "client", "engine", "fake_server", "engine_only")
    for figure in per_call:  # each is a time minus the model's sleeps inside it: never negative
        assert finite(f[f"{figure}_ms_per_call"]) and f[f"{figure}_ms_per_call"] >= 0, figure
    assert f["client_ms_per_call"] + f["engine_ms_per_call"] == pytest.approx(f["overhead_ms_per_call"], abs=0.02)


def test_recall_latency_finds_the_exact_neighbours_in_every_scenario(runs: dict[str, Run]) -> None:
    f = runs["recall_latency"].figures()
    assert f["memories"] == recall_latency.TINY_MEMORIES
    for scenario in ("scoped", "exact_fallback", "one_scope"):
        s = f[scenario]
        assert finite(s["p50_ms"], s["p99_ms"], s["search_p50_ms"]) and 0 < s["p50_ms"] <= s["p99_ms"], scenario
        assert s["recall_at_10"] >= 0.9, f"{scenario}: top-10 overlap with brute force {s['recall_at_10']}"
        assert s["memories_recalled_avg"] > 0, scenario
    assert f["exact_fallback"]["recall_at_10"] == 1.0, "the exact fallback is brute force itself"
    assert f["scoped"]["visible"] == f["exact_fallback"]["visible"] < recall_latency.TINY_MEMORIES
    assert f["one_scope"]["visible"] == recall_latency.TINY_MEMORIES
    assert f["scoped"]["path"].startswith("sqlite-vec") and f["exact_fallback"]["path"].startswith("exact")
    assert (f["p50_ms"], f["recall_at_10"]) == (f["scoped"]["p50_ms"], f["scoped"]["recall_at_10"])


def test_token_savings_counts_both_sides(runs: dict[str, Run]) -> None:
    f = runs["token_savings"].figures()
    assert 0 < f["ours_tokens"] < f["naive_tokens"]
    assert f["savings_pct"] == round(100 * (1 - f["ours_tokens"] / f["naive_tokens"]), 1)


def test_mining_finds_the_planted_patterns(runs: dict[str, Run]) -> None:
    f = runs["mining"].figures()
    assert f["events"] == mining.TINY_EVENTS
    assert 0 < f["texts_embedded"] < f["texts"] <= mining.TINY_EVENTS
    assert f["patterns"] >= 2, "the Monday report and the deploy-then-announce sequence at least"
    assert 0 <= f["proposals"] <= f["patterns"]
    assert finite(f["mine_s"], f["daily_digest_ms"], f["weekly_digest_ms"], f["peak_rss_mb"])
    assert min(f["mine_s"], f["daily_digest_ms"], f["weekly_digest_ms"], f["peak_rss_mb"]) > 0
    assert finite(f["loop_lag_max_ms"], f["digest_loop_lag_max_ms"])


def test_cli_startup_starts_both_commands_without_litellm(runs: dict[str, Run]) -> None:
    f = runs["cli_startup"].figures()
    assert f["runs"] == cli_startup.TINY_RUNS
    for command in ("help", "status"):
        median, most = f[f"{command}_ms_median"], f[f"{command}_ms_max"]
        assert finite(median, most) and 0 < median <= most, command
        assert f[f"litellm_imported_by_{command}"] is False, f"openkoi {command} imported litellm"


def test_history_seeds_every_task_and_builds_both_digests(runs: dict[str, Run]) -> None:
    f = runs["history"].figures()
    assert f["events"] == history.TINY_EVENTS
    assert finite(f["seed_s"]) and f["seed_s"] >= 0
    for kind in ("daily", "weekly"):
        best, worst = f[f"{kind}_ms_best"], f[f"{kind}_ms_worst"]
        assert finite(best, worst) and 0 < best <= worst, kind


def test_tool_call_answers_every_call_through_the_hub(runs: dict[str, Run]) -> None:
    f = runs["tool_call"].figures()
    assert (f["calls"], f["transport"]) == (tool_call.TINY_CALLS, "stdio")
    assert finite(f["median_ms"], f["p95_ms"], f["max_ms"]) and 0 < f["median_ms"] <= f["p95_ms"] <= f["max_ms"]
    assert finite(f["start_ms"], f["sdk_median_ms"]) and f["start_ms"] > 0 and f["sdk_median_ms"] > 0
    # Through the gate: the screen, the audit and the atlas row (five calls cannot order the two medians on a
    # loaded machine; the full run reports them).
    assert finite(f["gate_median_ms"], f["gate_p95_ms"], f["gate_embedder_median_ms"])
    assert 0 < f["gate_median_ms"] <= f["gate_p95_ms"]
    assert f["gate_embedder_median_ms"] <= f["gate_embedder_p95_ms"]
    # The realistic mix (one key per call here: fewer calls than keys) and the worst case, every key new.
    assert f["gate_varied_keys"] == tool_call.TINY_CALLS
    assert f["gate_varied_median_ms"] <= f["gate_varied_p95_ms"]
    assert f["gate_varied_embedder_median_ms"] <= f["gate_varied_embedder_p95_ms"]
    assert finite(f["gate_embedder_unseen_median_ms"]) and f["gate_embedder_unseen_median_ms"] > 0


def test_api_post_accepts_and_saves_every_task(runs: dict[str, Run]) -> None:
    f = runs["api_post"].figures()
    assert (f["n"], f["concurrency"]) == (api_post.TINY_N, api_post.TINY_CONCURRENCY)
    assert f["errors"] == 0 and f["engine"] == "warm"
    assert f["tasks_persisted"] == api_post.TINY_N, "every 202 must mean a saved task"
    assert finite(f["p50_ms"], f["p99_ms"], f["max_ms"]) and 0 < f["p50_ms"] <= f["p99_ms"] <= f["max_ms"]
    assert finite(f["cpu_ms_per_request"], f["loop_cpu_ms_per_request"])
    assert 0 < f["loop_cpu_ms_per_request"] <= f["cpu_ms_per_request"]


def test_page_load_serves_the_task_list_from_an_index(runs: dict[str, Run]) -> None:
    f = runs["page_load"].figures()
    assert (f["tasks"], f["n"]) == (page_load.TINY_TASKS, page_load.TINY_N)
    assert "USING INDEX" in f["query_plan"] and "TEMP B-TREE" not in f["query_plan"]
    assert finite(f["p50_ms"], f["p95_ms"], f["max_ms"]) and 0 < f["p50_ms"] <= f["p95_ms"] <= f["max_ms"]
    assert finite(f["trip_p50_ms"], f["fragment_p50_ms"]) and f["target_ms"] == 200
