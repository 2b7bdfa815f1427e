"""Ready-made model replies for the engine's request kinds, for use with FakeModelServer.

Scores, confidences and counts are scripted as the model writes them: whole points on the 0–10 scale
the schemas ask for (``core.outputs.Points``); the engine maps them to 0–1.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.fakes.model_server import FakeModelServer, Reply, json_reply, prompt_text

AGENCIES = ("guardian", "economist", "empath", "scholar", "strategist")


def directive(stance: str = "Direct, test-driven, security-conscious") -> Reply:
    return json_reply({"stance": stance, "good_looks_like": ["correct and tested"], "constraints": []})


def parliament(
    votes: dict[str, str] | None = None,
    reasons: dict[str, str] | None = None,
    caveats: dict[str, str] | None = None,
    reversibility: str = "FULL",
    blast_radius: str = "LOW",
    permission_level: str = "STANDARD",
    omit: tuple[str, ...] = (),
    estimate_usd: float = 0.05,
) -> Reply:
    """A five-key ParliamentReply; ``omit`` leaves agencies out (a malformed reply)."""
    votes = votes or {}
    reasons = reasons or {}
    caveats = caveats or {}
    payload: dict[str, Any] = {
        a: {"vote": votes.get(a, "APPROVE"), "reason": reasons.get(a, f"{a} sees no problem"), "caveat": caveats.get(a)}
        for a in AGENCIES
        if a not in omit
    }
    if "economist" in payload:
        payload["economist"]["estimated_cost_usd"] = estimate_usd
    if "guardian" in payload:
        payload["guardian"].update(
            reversibility=reversibility, blast_radius=blast_radius, permission_level=permission_level
        )
    return json_reply(payload)


def plan(category: str = "general", read_only: bool = False, confidence: int = 9, steps: int = 2) -> Reply:
    """A plan; ``confidence`` in read_only is on the 0–10 scale."""
    return json_reply(
        {
            "category": category,
            "read_only": read_only,
            "read_only_confidence": confidence,
            "steps": [{"title": f"Step {n}", "detail": f"Do part {n}"} for n in range(1, steps + 1)],
            "estimated_iterations": 2,
        }
    )


_DIM = re.compile(r"^- ([\w-]+) \(weight", re.MULTILINE)


def requested_dimensions(body: dict[str, Any]) -> list[str]:
    """The dimensions the evaluator must score: the schema's required keys when the schema was
    sent (json_schema or json_object), else the rubric lines of the prompt."""
    fmt = body.get("response_format") or {}
    schema = fmt.get("json_schema", {}).get("schema") if fmt.get("type") == "json_schema" else fmt.get("schema")
    if isinstance(schema, dict):
        dims = schema.get("properties", {}).get("dimensions", {}).get("required")
        if isinstance(dims, list):
            return [str(d) for d in dims]
    return _DIM.findall(prompt_text(body))


def evaluation(
    score: int | dict[str, int],
    findings: list[dict[str, Any]] | None = None,
    needs_human: bool = False,
) -> Any:
    """A handler scoring whichever dimensions the evaluator asked for, in points 0–10 (9 scores 0.9)."""

    def handler(body: dict[str, Any]) -> Reply:
        dims = requested_dimensions(body)
        # A dict scores only the dimensions it names (so a test can script an incomplete reply).
        scores = score if isinstance(score, dict) else {d: score for d in dims}
        return json_reply(
            {
                "dimensions": {d: {"score": scores[d], "rationale": "ok"} for d in dims if d in scores},
                "findings": [f for f in (findings or []) if f.get("dimension") in dims],
                "needs_human": needs_human,
                "needs_human_reason": "a business decision" if needs_human else None,
                "summary": "scored",
            }
        )

    return handler


def finding(
    dimension: str, description: str = "needs work", fix: str = "fix it", quote: str | None = None
) -> dict[str, Any]:
    return {"severity": "major", "dimension": dimension, "description": description, "fix": fix, "quote": quote}


def learnings(*texts: str, confidence: int = 8) -> Reply:
    """Learnings, each with ``confidence`` on the 0–10 scale (8 is stored as 0.8)."""
    return json_reply({"learnings": [{"kind": "heuristic", "text": t, "confidence": confidence} for t in texts]})


def simulation(reason: str = "everyone is at work") -> Reply:
    return json_reply(
        {
            "futures": [
                {"label": "A", "action": "Send now", "consequence": "Arrives at night in CET",
                 "likely_response": "low", "risk": "MEDIUM"},
                {"label": "B", "action": "Schedule for 9:00 CET", "consequence": "Arrives in business hours",
                 "likely_response": "high", "risk": "LOW"},
            ],
            "recommendation": "B",
            "reason": reason,
            "champion": "empath",
            "champion_reason": "don't look careless about timezones",
            "dissent": "economist",
            "dissent_reason": "just send it now",
        }
    )  # fmt: skip


def revision(find: str, replace: str) -> Reply:
    return json_reply({"edits": [{"find": find, "replace": replace}]})


def rewriting_revision() -> Any:
    """A handler that answers every refinement with a rewrite that differs each time."""
    count = 0

    def handler(body: dict[str, Any]) -> Reply:
        nonlocal count
        count += 1
        return json_reply({"rewrite": f"The answer, revised {count} time(s)."})

    return handler


def install_defaults(server: FakeModelServer, output: str = "The answer.", score: int = 9) -> None:
    """A happy path: approve, plan, answer, score ``score`` points of 10, no learnings."""
    s = server.script
    s.default("Directive", directive())
    s.default("ParliamentReply", parliament())
    s.default("Plan", plan())
    s.default("execute", Reply(content=output))
    s.default("Evaluation", evaluation(score))
    s.default("Learnings", learnings())
    s.default("Simulation", simulation())
    s.default("Revision", rewriting_revision())


# --- bad models ----------------------------------------------------------------------------------------
# What small models really do (STACK.md, "What the real small model taught us"), as reusable scripts, so
# that tests meet them. The fake returns whatever is scripted: it does not enforce a grammar. Each script
# says whether a grammar-constrained server (llama.cpp with the schema as its grammar) could produce it.


def requested_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema a request asked for: in ``json_schema``, in ``json_object``'s ``schema``, or in the prompt."""
    fmt = body.get("response_format") or {}
    schema = fmt.get("json_schema", {}).get("schema") if fmt.get("type") == "json_schema" else fmt.get("schema")
    if isinstance(schema, dict):
        return schema
    text = prompt_text(body)
    start = text.find("matching this JSON schema (")
    if start == -1:
        return None
    found, _ = json.JSONDecoder().raw_decode(text, text.index("{", start))
    return found if isinstance(found, dict) else None


def _filled(node: dict[str, Any], defs: dict[str, Any], label: str) -> Any:
    if "$ref" in node:
        return _filled(defs[node["$ref"].rsplit("/", 1)[-1]], defs, label)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        return _filled({**options[0], **{k: v for k, v in node.items() if k != "anyOf"}}, defs, label)
    if "enum" in node:
        return node["enum"][0]
    said = str(node.get("description") or node.get("title") or label)
    kind = node.get("type")
    if kind == "object":
        return {name: _filled(sub, defs, str(sub.get("title", name))) for name, sub in node["properties"].items()}
    if kind == "array":
        return [_filled(node["items"], defs, said) for _ in range(max(1, node.get("minItems", 1)))]
    if kind in {"integer", "number"}:
        return node.get("minimum", 0)
    if kind == "boolean":
        return False
    return said[: node.get("maxLength", len(said))]


def placeholders(body: dict[str, Any]) -> Reply:
    """A handler answering any structured request with what the schema itself says: every text field its
    description (else its name), every enum its first value, every number its least. A grammar-constrained
    server can produce this (it matches the schema); it is how a tiny model "fills in" a form."""
    schema = requested_schema(body)
    assert schema is not None, "placeholders answers structured requests only"
    return json_reply(_filled(schema, schema.get("$defs", {}), str(schema.get("title", "reply"))))


def the_prompts_example(body: dict[str, Any]) -> Reply:
    """A handler returning, word for word, the example reply the prompt shows (the first JSON object after
    "example" in the system text). It matches the schema, so a grammar-constrained server can produce it."""
    system = str(body["messages"][0]["content"])
    start = system.index("{", system.lower().index("example"))
    example, _ = json.JSONDecoder().raw_decode(system, start)
    return json_reply(example)


def approve_everything(reason: str | None = None) -> Reply:
    """Every agency approves and the Guardian calls anything FULL / LOW / NONE. With ``reason``, every agency
    gives those same words (a rubber stamp); without, each its own. A grammar-constrained server can produce
    either."""
    reasons = {a: reason or f"{a}: nothing here worries me" for a in AGENCIES}
    return parliament(reasons=reasons, permission_level="NONE")


def off_scale_evaluation(value: float = 0.7) -> Any:
    """An evaluator writing a fraction (or any number off the 0–10 integer scale) as every score. Under
    llama.cpp's grammar the integer enum cannot be left; only a server that does not constrain decoding
    (the schema in the prompt alone, or ``json_schema`` ignored) can send it."""

    def handler(body: dict[str, Any]) -> Reply:
        reply = evaluation(0)(body)
        payload = json.loads(reply.content or "{}")
        for judgement in payload["dimensions"].values():
            judgement["score"] = value
        return json_reply(payload)

    return handler


AGENT_REASON = "I need to run this to finish the task."  # what the model says beside the calls of ``tool_calls``


def tool_calls(*calls: tuple[str, dict[str, object]]) -> Reply:
    """The executor's turn that proposes ``calls`` (tool name, arguments), with ids ``c0``, ``c1`` …"""
    return Reply(
        content=AGENT_REASON,
        tool_calls=[
            {"id": f"c{n}", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
            for n, (name, arguments) in enumerate(calls)
        ],
    )


def tool_results(server: FakeModelServer) -> list[str]:
    """What the tools answered, as the model read them in the last executor request."""
    return [m["content"] for m in server.requests_of("execute")[-1]["messages"] if m["role"] == "tool"]
