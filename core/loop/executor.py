"""The executor: produces the output (with tools) and, on refinement, revises it with targeted edits."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from core.acting.action import ActionTool, is_action_tool
from core.errors import BudgetExceeded, TaskTimeout, ToolLoopAbort
from core.events import EventBus, Notice, ToolCalled
from core.llm.gateway import CallContext, ModelGateway
from core.llm.structured import ask
from core.loop.acting import ActionGuard
from core.loop.context import apply_edits, compress, delta_feedback
from core.loop.tools import LoopState, Tool, ToolLoopDetector, schema, truncate
from core.models import Phase, Role
from core.outputs import Finding, Revision
from core.prompt import Prompt

SYSTEM = """You are the executor of an engineering team's agent. Do the task completely and well, \
following the plan, the directive and the Parliament's caveats. Reply with the finished result only — \
no preamble, no commentary about yourself."""

REFINE_SYSTEM = """You are revising your previous output to resolve an evaluator's findings. The previous \
output is shown compressed: omitted regions are marked and are unchanged. Reply with targeted edits: each \
edit's "find" is exact text copied from the shown output that occurs exactly once, and "replace" is its \
new text. Use "rewrite" with the complete new output only if edits cannot express the change."""

# Called when a tool loop reaches the escalation threshold; True means "a person said go on".
Escalation = Callable[[str], Awaitable[bool]]

# A reply cut off at the output limit is continued this many times before it is marked truncated.
MAX_CONTINUATIONS = 2
CONTINUE = "Your reply was cut off at the output limit. Continue exactly where it stopped: no repetition, no preamble."
TRUNCATION_MARK = "\n\n[… output cut off at the model's output limit: this result is incomplete …]"


@dataclass(frozen=True)
class Execution:
    output: str
    truncated: bool = False


@dataclass
class Executor:
    gateway: ModelGateway
    bus: EventBus
    tools: list[Tool]
    detector: ToolLoopDetector
    spill_dir: Any
    tool_settings: Any
    escalate: Escalation | None = None
    # Every call of a tool that acts goes through it (the gate, a person when asked); None: such a tool's
    # calls are refused, never run unguarded.
    guard: ActionGuard | None = None

    async def execute(self, ctx: CallContext, task_id: str, prompt: Prompt) -> Execution:
        """Run the executor with tools until it answers in text. Raises ToolLoopAbort on a stuck loop.

        A text answer cut off at the output limit is continued (up to MAX_CONTINUATIONS times); if it
        is still incomplete, it comes back marked ``truncated`` so that it is never judged as whole.
        """
        by_name = {t.name: t for t in self.tools}
        specs = [schema(t) for t in self.tools] or None
        for _ in range(self.tool_settings.max_rounds):
            completion = await self.gateway.complete(ctx, Role.EXECUTOR, Phase.EXECUTE, prompt, tools=specs)
            if not completion.tool_calls:
                if completion.truncated:
                    return await self._continue(ctx, task_id, prompt, completion.content or "")
                return Execution(completion.content or "")
            prompt.tail.append(
                {
                    "role": "assistant",
                    "content": completion.content,
                    "tool_calls": [
                        {
                            "id": c["id"],
                            "type": "function",
                            "function": {"name": c["name"], "arguments": c["arguments"]},
                        }
                        for c in completion.tool_calls
                    ],
                }
            )
            for call in completion.tool_calls:
                result = await self._run_tool(task_id, by_name, call, completion.content or "")
                prompt.tail.append({"role": "tool", "tool_call_id": call["id"], "content": result})
        raise ToolLoopAbort(f"the executor made more than {self.tool_settings.max_rounds} rounds of tool calls")

    async def _continue(self, ctx: CallContext, task_id: str, prompt: Prompt, text: str) -> Execution:
        for n in range(1, MAX_CONTINUATIONS + 1):
            await self.bus.publish(Notice(task_id, f"the output was cut off at the length limit; continuing ({n})"))
            prompt.tail += [{"role": "assistant", "content": text}, {"role": "user", "content": CONTINUE}]
            try:
                more = await self.gateway.complete(ctx, Role.EXECUTOR, Phase.EXECUTE, prompt)
            except (BudgetExceeded, TaskTimeout):
                break  # no room to continue: what there is comes back marked incomplete
            finally:
                del prompt.tail[-2:]
            text += more.content or ""
            if not more.truncated:
                return Execution(text)
        await self.bus.publish(
            Notice(task_id, "the output is still cut off at the model's output limit; it is marked incomplete", "warn")
        )
        return Execution(text + TRUNCATION_MARK, truncated=True)

    async def _run_tool(self, task_id: str, by_name: dict[str, Tool], call: dict[str, Any], reason: str) -> str:
        """One tool call's result for the model. ``reason``: the model's words beside the call, shown to a
        person asked to approve it."""
        try:
            arguments = json.loads(call["arguments"] or "{}")
            if not isinstance(arguments, dict):
                raise ValueError("arguments must be a JSON object")
        except ValueError as exc:
            return f"error: arguments are not valid JSON: {exc}"
        state, count = self.detector.observe(call["name"], arguments)
        await self.bus.publish(
            ToolCalled(
                task_id, call["name"], json.dumps(arguments, ensure_ascii=False)[:200], count, state != LoopState.OK
            )
        )
        if state is LoopState.ABORT:
            raise ToolLoopAbort(f"{call['name']} was called {count} times with identical arguments")
        if state is LoopState.WARN:
            await self.bus.publish(
                Notice(task_id, f"{call['name']} repeated {count} times with the same arguments", "warn")
            )
        if state is LoopState.ESCALATE:
            reason = f"{call['name']} repeated {count} times with identical arguments; continue?"
            if self.escalate is None or not await self.escalate(reason):
                raise ToolLoopAbort(f"stopped at a person's request: {reason}")
        tool = by_name.get(call["name"])
        if tool is None:
            return f"error: no tool named {call['name']!r}"
        if is_action_tool(tool):
            output = await self._act(task_id, tool, arguments, reason)  # type: ignore[arg-type]
            return truncate(output, self.tool_settings, self.spill_dir)
        try:
            output = await tool.run(arguments)
        except Exception as exc:  # a tool's failure is information for the model, not a crash
            output = f"error: {type(exc).__name__}: {exc}"
        return truncate(output, self.tool_settings, self.spill_dir)

    async def _act(self, task_id: str, tool: ActionTool, arguments: dict[str, Any], reason: str) -> str:
        if self.guard is None:
            return f"error: {tool.name} did not run: no gate to ask (a tool that acts never runs unguarded)"
        return await self.guard.call(task_id, tool, arguments, reason)

    async def refine(
        self,
        ctx: CallContext,
        task: str,
        context: str,
        previous_output: str,
        findings: list[Finding],
        changed: set[int] | None,
    ) -> str:
        """Revise ``previous_output`` to resolve ``findings``; returns the full new output."""
        prompt = Prompt(REFINE_SYSTEM).add("Task", task).add("Context", context)
        prompt.add("Findings to resolve", delta_feedback(findings))
        prompt.add(
            "Previous output (compressed)", compress(previous_output, [f.quote or "" for f in findings], changed), True
        )

        def check(revision: Revision) -> None:
            if revision.rewrite is None:
                apply_edits(previous_output, revision.edits)

        revision = await ask(
            self.gateway, ctx, Role.EXECUTOR, Phase.EXECUTE, prompt, Revision, check=check, max_tokens=8192
        )
        if revision.rewrite is not None and revision.rewrite.strip():
            return revision.rewrite
        return apply_edits(previous_output, revision.edits)
