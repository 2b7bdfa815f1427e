"""Engine overhead per model call, with the model's own latency fixed at 100 ms.

Each task runs the full pipeline — directive, Parliament, plan, three PEER iterations
(execute, evaluate 0.5 → refine, evaluate 0.58 → refine, evaluate 0.66 → iteration limit) and
learning — against a local fake OpenAI-compatible server on 127.0.0.1 that sleeps 100 ms per
request. 20 tasks run one after another after one uncounted warm-up task.

    overhead_ms_per_call = (wall − calls × 100 ms) / calls
    client_ms_per_call   = (time inside litellm.acompletion − calls × 100 ms) / calls
                           — litellm, the OpenAI SDK, HTTP over loopback and the fake server's own
                           request handling (``fake_server_ms_per_call`` shows that last part,
                           including the timer's oversleep of the 100 ms)
    engine_ms_per_call   = overhead − client: everything the engine does around the calls
                           (prompts, validation, the store, events, diffs, the retry wrapper).

litellm leaves work behind after ``acompletion`` returns (logging callbacks scheduled on the loop
and on a thread pool); it runs while the engine next awaits, so the subtraction above charges it
to the engine. ``engine_only_ms_per_call`` is a cross-check without that: the same 20 tasks run
again with ``litellm.acompletion`` replaced by an in-process stub that asks the same script for the
reply and sleeps 100 ms — no litellm, no SDK, no HTTP — and the time inside the stub is subtracted.

Run with ``--profile`` to print the top cProfile entries of the measured tasks on stderr.

    python -m tests.benchmarks.engine_overhead [--tasks 20] [--latency-ms 100] [--profile] [--tiny]

``--tiny`` (2 tasks, 10 ms per call) runs the same scenario for the default test suite's smoke test.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import re
import time
from types import SimpleNamespace
from typing import Any

from tests.benchmarks._common import check, emit, engine_on, forbid_network, note
from tests.fakes.model_server import FakeModelServer, Reply, estimate_tokens, json_reply, prompt_text
from tests.fakes.scripts import directive, learnings, parliament, plan, requested_dimensions

LATENCY = 0.1  # the fake model's seconds per call
TASKS = 20
TINY_TASKS, TINY_LATENCY = 2, 0.01
ITERATIONS = 3
# Threshold 0.8, improvement 0.05: continue to the limit. Reachable in whole points: relevance (weight
# 0.4) re-scored at 5, 7, 9 of 10 while the others stay at 5 gives 0.50, 0.58, 0.66.
TARGETS = {1: 0.5, 2: 0.58, 3: 0.66}
CALLS_PER_TASK = 10  # directive, parliament, plan, execute, 3 evaluations, 2 revisions, learnings

MARK = re.compile(r"\[rev (\d+)\]")
WEIGHT = re.compile(r"^- ([\w-]+) \(weight ([\d.]+)\)", re.MULTILINE)

OUTPUT = """Release checklist [rev 1]

1. Freeze the main branch and tag the release candidate.
2. Run the full test suite on CI, including the slow end-to-end tests.
3. Build the wheel and the container image from the tagged commit.
4. Deploy to staging and run the smoke tests against it.
5. Write the changelog entry from the merged pull requests.
6. Announce the release window in the team channel a day ahead.
7. Deploy to production behind the feature flag and watch the error rate.
8. Remove the flag after a day without incidents."""


def _revision_of(body: dict[str, Any]) -> int:
    marks = [int(m) for m in MARK.findall(prompt_text(body))]
    return max(marks) if marks else 1


def evaluate(body: dict[str, Any]) -> Reply:
    """Score so the task's weighted score is ``TARGETS`` on revisions 1, 2, 3.

    Only the dimension with a finding is re-scored on an incremental evaluation; the others are
    carried forward at 0.5, so the re-scored ones get ``0.5 + (target − 0.5) / their weight``, written
    as whole points of 10 as the schema asks (the targets are chosen so that this is exact).
    """
    text = prompt_text(body)
    rev = _revision_of(body)
    dims = requested_dimensions(body)
    # Revisions 2 and 3 change one line: the engine must evaluate them incrementally, as it would.
    check(rev == 1 or len(dims) == 1, f"revision {rev} was evaluated in full ({dims})")
    weights = {name: float(w) for name, w in WEIGHT.findall(text)}
    share = sum(weights[d] for d in dims)
    value = 10 * (0.5 + (TARGETS[rev] - 0.5) / share)
    check(abs(value - round(value)) < 1e-6, f"revision {rev}: {value} is not a whole point")
    return json_reply(
        {
            "dimensions": {d: {"score": round(value), "rationale": "scripted"} for d in dims},
            "findings": [
                {
                    "severity": "major",
                    "dimension": dims[0],
                    "description": "the title does not say which service is released",
                    "fix": "name the service in the title",
                    "quote": f"Release checklist [rev {rev}]",
                }
            ],
            "needs_human": False,
            "needs_human_reason": None,
            "summary": "scripted",
        }
    )


def revise(body: dict[str, Any]) -> Reply:
    rev = _revision_of(body)
    return json_reply({"edits": [{"find": f"[rev {rev}]", "replace": f"[rev {rev + 1}]"}]})


def install(server: FakeModelServer) -> None:
    s = server.script
    s.default("Directive", directive())
    s.default("ParliamentReply", parliament())
    s.default("Plan", plan("general"))
    s.default("execute", Reply(content=OUTPUT))
    s.default("Evaluation", evaluate)
    s.default("Revision", revise)
    s.default("Learnings", learnings())


class Timers:
    """Seconds spent inside ``litellm.acompletion`` and inside the fake server's request handler."""

    def __init__(self) -> None:
        self.client = 0.0
        self.server = 0.0

    def wrap_client(self, litellm: Any) -> None:
        original = litellm.acompletion

        async def acompletion(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                self.client += time.perf_counter() - started

        litellm.acompletion = acompletion

    def wrap_server(self, server: FakeModelServer) -> None:
        original = server._chat

        async def chat(request: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(request)
            finally:
                self.server += time.perf_counter() - started

        setattr(server, "_chat", chat)  # noqa: B010 - bound before the app's routes are made


async def run_task(harness: Any, n: int) -> None:
    from core.models import LoopDecision, TaskStatus

    task = await harness.engine.submit(f"Write the release checklist for service {n}")
    done = await harness.engine.run(task.id)
    # 0.66 against the bar of 0.80 at the iteration limit: an honest ending below the bar.
    check(done.status is TaskStatus.BELOW_BAR, f"task {n}: {done.status} {done.error}")
    check(done.iterations == ITERATIONS, f"task {n}: {done.iterations} iterations")
    check(done.decision is LoopDecision.ACCEPT_BEST, f"task {n}: decision {done.decision}")
    check(abs((done.score or 0) - TARGETS[ITERATIONS]) < 1e-6, f"task {n}: score {done.score}")
    check(f"[rev {ITERATIONS}]" in (done.output or ""), f"task {n}: output was not revised")


class StubClient:
    """``acompletion`` without litellm: the scripted reply after the same latency, as a response-shaped object."""

    def __init__(self, server: FakeModelServer) -> None:
        self.server = server
        self.latency = server.latency
        self.calls = 0
        self.inside = 0.0

    async def acompletion(self, **kwargs: Any) -> Any:
        started = time.perf_counter()
        body = {k: kwargs.get(k) for k in ("model", "messages", "response_format")}
        reply = await self.server.script(body)
        await asyncio.sleep(self.latency)
        self.calls += 1
        message = SimpleNamespace(content=reply.content, tool_calls=None)
        usage = SimpleNamespace(
            prompt_tokens=estimate_tokens(prompt_text(body)), completion_tokens=estimate_tokens(reply.content or "")
        )
        response = SimpleNamespace(choices=[SimpleNamespace(message=message)], usage=usage)
        self.inside += time.perf_counter() - started
        return response


async def engine_only(server: FakeModelServer, tasks: int) -> float:
    """Engine ms per call with the client stack stubbed out (see the module docstring)."""
    from core.llm.gateway import load_litellm

    litellm = load_litellm()
    real = litellm.acompletion
    stub = StubClient(server)
    litellm.acompletion = stub.acompletion
    try:
        async with engine_on(server.url, "openkoi-bench-stub-") as harness:
            await run_task(harness, 0)
            stub.calls, stub.inside = 0, 0.0
            started = time.perf_counter()
            for n in range(1, tasks + 1):
                await run_task(harness, n)
            wall = time.perf_counter() - started
            check(not harness.notices, f"notices: {harness.notices[:3]}")
    finally:
        litellm.acompletion = real
    check(stub.calls == tasks * CALLS_PER_TASK, f"{stub.calls} stubbed model calls")
    return (wall - stub.inside) / stub.calls * 1000


async def run(tasks: int = TASKS, latency: float = LATENCY, profile: bool = False) -> dict[str, Any]:
    """Time ``tasks`` tasks against a fake model answering after ``latency`` seconds (see the module docstring)."""
    from core.llm.gateway import load_litellm

    timers = Timers()
    server = FakeModelServer(latency=latency)
    install(server)
    timers.wrap_server(server)
    async with server, engine_on(server.url, "openkoi-bench-") as harness:
        timers.wrap_client(load_litellm())
        await run_task(harness, 0)  # warm-up: imports, first connection, caches
        check(len(server.requests) == CALLS_PER_TASK, f"warm-up made {server.kinds()}")
        server.requests.clear()
        timers.client = timers.server = 0.0
        profiler = cProfile.Profile() if profile else None
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        for n in range(1, tasks + 1):
            await run_task(harness, n)
        if profiler is not None:
            profiler.disable()
        wall = time.perf_counter() - started
        check(not harness.notices, f"notices: {harness.notices[:3]}")
    calls = len(server.requests)
    check(calls == tasks * CALLS_PER_TASK, f"{calls} model calls")
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
        note(out.getvalue())
    stubbed = await engine_only(server, tasks)
    overhead = (wall - calls * latency) / calls * 1000
    client = (timers.client - calls * latency) / calls * 1000
    return {
        "bench": "engine_overhead",
        "tasks": tasks,
        "latency_ms": round(latency * 1000, 1),
        "model_calls": calls,
        "wall_s": round(wall, 3),
        "overhead_ms_per_call": round(overhead, 2),
        "client_ms_per_call": round(client, 2),
        "engine_ms_per_call": round(overhead - client, 2),
        "fake_server_ms_per_call": round((timers.server - calls * latency) / calls * 1000, 2),
        "engine_only_ms_per_call": round(stubbed, 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=TASKS)
    parser.add_argument("--latency-ms", type=float, default=LATENCY * 1000, help="the fake model's time per call")
    parser.add_argument("--profile", action="store_true", help="print the top cProfile entries on stderr")
    parser.add_argument("--tiny", action="store_true", help=f"{TINY_TASKS} tasks at {TINY_LATENCY * 1000:.0f} ms")
    args = parser.parse_args(argv)
    tasks, latency = (TINY_TASKS, TINY_LATENCY) if args.tiny else (args.tasks, args.latency_ms / 1000)
    forbid_network()
    emit(asyncio.run(run(tasks, latency, args.profile)))


if __name__ == "__main__":
    main()
