"""A tool call's time through the MCP client: 200 calls of a do-nothing tool on a local stdio server
(our test server's ``noop``), one after another, through ``McpHub`` and the ``McpTool`` the model's call
would reach — naming, the session task, JSON-RPC over the server's pipes, the result rendered and
redacted. The server's start and the first listing are not counted (reported apart as ``start_ms``);
10 uncounted warm-up calls come first. Prints one JSON line: median, p95 and max in milliseconds.

``sdk_median_ms`` is the same calls made with the SDK's ``Client`` alone on a second server process:
what the server, the pipes and the SDK cost, so that ``median_ms − sdk_median_ms`` is this client's own.

``gate_median_ms`` / ``gate_p95_ms`` are the same calls as the executor makes them: through ``ActionGuard`` —
the rule floor's screen of the call (words only, and ``gate_embedder_median_ms`` / ``gate_embedder_p95_ms``
with the local embedder), the classification (the team declared the tool ``read``, so it runs without asking),
the trust level, the audit rows and the atlas row written to SQLite — and then the MCP call.

Identical calls are the floor's best case: it remembers the embedder's vector of each clause it screened, so
only the first call is embedded. ``gate_varied_*`` is a realistic mix: the same number of calls of the
server's ``read_note`` (a read that does nothing), cycling over 20 different keys, each first seen among the
counted calls (20 of them embed a new clause, the rest are remembered), words only and with the embedder.
``gate_embedder_unseen_median_ms`` is the worst case: every call's key is new, so every call is embedded.

    python -m tests.benchmarks.tool_call [--calls 200] [--tiny]

``--tiny`` (5 calls) runs the same scenario for the default test suite's smoke test.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.benchmarks._common import check, emit, forbid_network, note

if TYPE_CHECKING:
    from core.acting.action import ActionTool

CALLS = 200
TINY_CALLS = 5
WARM_UP = 10
ROOT = Path(__file__).resolve().parents[2]
TOOL = "mcp__bench__noop"
READ_NOTE = "mcp__bench__read_note"
# What a team reads notes by: paths, tickets, dates. None of them is anything the floor stops.
KEYS = (
    "runbooks/restart-checklist.md", "incident-4812", "src/core/gate/floor.py", "standup 2026-12-07",
    "team/oncall", "release notes v2.3", "design/mockups", "grafana dashboards", "team/okrs-q4",
    "postmortem 2026-11-30", "docs/architecture.md", "weekly metrics", "backlog/triage", "api latency p95",
    "vendor invoices november", "onboarding checklist", "ci flaky tests", "roadmap 2027", "support macros",
    "retro action items",
)  # fmt: skip


@dataclass(frozen=True)
class Mix:
    """The calls one run makes: the counted call number ``n``'s arguments, and what the tool answers them."""

    tool: ActionTool
    arguments: Callable[[int], dict[str, Any]]
    answer: Callable[[dict[str, Any]], str]
    warm_up: dict[str, Any]


def identical(tool: ActionTool) -> Mix:
    return Mix(tool, lambda n: {}, lambda arguments: "ok", {})


def varied(tool: ActionTool, keys: Callable[[int], str]) -> Mix:
    # The warm-up key is none of the counted ones: each counted key is first seen among the counted calls.
    return Mix(tool, lambda n: {"key": keys(n)}, lambda arguments: f"no note named {arguments['key']}", {"key": "-"})


async def measure(calls: int) -> dict[str, object]:
    from core.acting.settings import McpServerSettings
    from integrations.mcp import McpHub

    args = ["-m", "tests.integrations.mcp.server"]
    settings = McpServerSettings(command=sys.executable, args=args, cwd=ROOT, enabled_tools=["noop", "read_note"])
    async with McpHub({"bench": settings}) as hub:
        start = time.perf_counter()
        tools = {tool.name: tool for tool in await hub.tools()}
        start_ms = (time.perf_counter() - start) * 1000
        wanted = {TOOL, READ_NOTE}
        check(wanted <= set(tools), f"{wanted} not among the server's tools: {sorted(tools)} {hub.failures}")
        noop, read_note = tools[TOOL], tools[READ_NOTE]
        for _ in range(min(WARM_UP, calls)):
            check(await noop.run({}) == "ok", "the warm-up call did not answer ok")
        samples: list[float] = []
        for _ in range(calls):
            began = time.perf_counter()
            output = await noop.run({})
            samples.append((time.perf_counter() - began) * 1000)
            check(output == "ok", f"the tool answered {output!r}")
        gated = await gate_samples(identical(noop), calls, embedder=False)
        gated_embedder = await gate_samples(identical(noop), calls, embedder=True)
        mix = varied(read_note, lambda n: KEYS[n % len(KEYS)])
        gated_varied = await gate_samples(mix, calls, embedder=False)
        gated_varied_embedder = await gate_samples(mix, calls, embedder=True)
        unseen = await gate_samples(varied(read_note, lambda n: f"scratch/{n:05d}"), calls, embedder=True)
        starts = hub.servers["bench"].starts
    check(starts == 1, f"the server was started {starts} times")
    sdk = await sdk_samples(calls, args)
    ordered = sorted(samples)
    return {
        "bench": "tool_call",
        "calls": calls,
        "transport": "stdio",
        "median_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(_p95(samples), 3),
        "max_ms": round(ordered[-1], 3),
        "start_ms": round(start_ms, 1),
        "sdk_median_ms": round(statistics.median(sdk), 3),
        "gate_median_ms": round(statistics.median(gated), 3),
        "gate_p95_ms": round(_p95(gated), 3),
        "gate_embedder_median_ms": round(statistics.median(gated_embedder), 3),
        "gate_embedder_p95_ms": round(_p95(gated_embedder), 3),
        "gate_varied_keys": min(calls, len(KEYS)),
        "gate_varied_median_ms": round(statistics.median(gated_varied), 3),
        "gate_varied_p95_ms": round(_p95(gated_varied), 3),
        "gate_varied_embedder_median_ms": round(statistics.median(gated_varied_embedder), 3),
        "gate_varied_embedder_p95_ms": round(_p95(gated_varied_embedder), 3),
        "gate_embedder_unseen_median_ms": round(statistics.median(unseen), 3),
    }


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


async def gate_samples(mix: Mix, calls: int, *, embedder: bool) -> list[float]:
    """The calls through ``ActionGuard`` on a fresh store, as the executor makes them. The floor is the
    process's own for its settings (``floor_for``), as in openkoi: what it remembers carries over."""
    import tempfile

    from core.acting.action import Effect
    from core.config import ToolSettings
    from core.events import EventBus
    from core.gate.action_gate import ActionGate
    from core.gate.gatekeeper import Gatekeeper
    from core.gate.settings import FloorSettings, GateSettings
    from core.loop.acting import ActionGuard
    from core.store import Store

    name = mix.tool.name
    samples: list[float] = []
    with tempfile.TemporaryDirectory(prefix="openkoi-toolcall-") as tmp:
        async with Store(Path(tmp) / "bench.db") as store:
            gatekeeper = Gatekeeper(GateSettings(floor=FloorSettings(embedder=embedder)), store)
            guard = ActionGuard(ActionGate(gatekeeper, ToolSettings(effects={name: Effect.READ})), EventBus())
            for _ in range(min(WARM_UP, calls)):
                output = await guard.call("bench", mix.tool, dict(mix.warm_up), "")
                check(output == mix.answer(mix.warm_up), f"the warm-up call through the gate answered {output!r}")
            for n in range(calls):
                arguments = mix.arguments(n)
                began = time.perf_counter()
                output = await guard.call("bench", mix.tool, arguments, "")
                samples.append((time.perf_counter() - began) * 1000)
                check(output == mix.answer(arguments), f"the call through the gate answered {output!r}")
            ran = [stats for stats in await store.tool_calls.atlas(name) if stats.tool == name]
            expected = calls + min(WARM_UP, calls)
            check(bool(ran) and ran[0].calls == expected, f"the atlas holds {ran} calls of {name}, not {expected}")
    return samples


async def sdk_samples(calls: int, args: list[str]) -> list[float]:
    """The same calls through the SDK's ``Client`` alone, on a server process of its own."""
    from mcp import Client, StdioServerParameters, types

    params = StdioServerParameters(command=sys.executable, args=args, cwd=ROOT)
    samples: list[float] = []
    async with Client(params, cache=None) as client:
        for _ in range(min(WARM_UP, calls)):
            await client.call_tool("noop", {})
        for _ in range(calls):
            began = time.perf_counter()
            result = await client.call_tool("noop", {})
            samples.append((time.perf_counter() - began) * 1000)
            text = result.content[0]
            check(isinstance(text, types.TextContent) and text.text == "ok", f"the SDK call answered {result!r}")
    return samples


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=CALLS)
    parser.add_argument("--tiny", action="store_true", help=f"{TINY_CALLS} calls")
    args = parser.parse_args(argv)
    forbid_network()
    figures = asyncio.run(measure(TINY_CALLS if args.tiny else args.calls))
    note(
        f"tool_call: median {figures['median_ms']} ms, p95 {figures['p95_ms']} ms over {figures['calls']} calls; "
        f"through the gate median {figures['gate_median_ms']} ms ({figures['gate_embedder_median_ms']} ms with the embedder); "
        f"varied arguments {figures['gate_varied_median_ms']} ms ({figures['gate_varied_embedder_median_ms']} ms with "
        f"the embedder, {figures['gate_embedder_unseen_median_ms']} ms when every call is new)"
    )
    emit(figures)


if __name__ == "__main__":
    main()
