"""The loop's door for tools that act: each call the agent proposes goes through the gate, waits for a
person when the gate asks, runs with its output streamed, and is recorded for the audit and the atlas.

    review ──RUN──────────────────────────────► run ─► record (ok / error / timeout) ─► the model reads it
           ──ASK──► ask a person ─allow──────► run …
                                 ─deny/expiry─► "denied": the model is told, the task goes on or ends honestly
           ──DENY─► "denied": the model is told

A person's answer arrives through ``ActionGate.decide`` from wherever they are (a terminal prompt, a chat
button, the API): the guard waits on the stored approval, so the answer may come from another process, and
a restart loses nothing the person decided. Nobody to ask (no ``Approver``) is a denial, never a run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from core.acting.action import ActionTool, ProposedAction
from core.errors import GateUnavailable, OpenKoiError
from core.events import ActionApprovalNeeded, ActionDecided, ActionEnded, ActionOutput, ActionReviewed, EventBus
from core.gate.action_decision import ActionDecision
from core.gate.action_gate import ActionGate, ActionReview, one_line
from core.models import new_id, utcnow
from core.store.actions import ActionApproval
from core.store.tool_calls import CallOutcome

# Asks a person about a pending approval (prints a question, posts a card); the answer comes back through
# ActionGate.decide. Returns when the question is asked, or once answered: the guard waits on the store.
Approver = Callable[[ActionReview], Awaitable[None]]

ALLOWED = ("allowed_once", "allowed_always")
POLL_SECONDS = 0.25
ERROR_CHARS = 200


@dataclass
class ActionGuard:
    gate: ActionGate
    bus: EventBus
    approver: Approver | None = None
    poll_seconds: float = POLL_SECONDS

    async def call(self, task_id: str, tool: ActionTool, arguments: dict[str, Any], reason: str) -> str:
        """Run ``tool`` with ``arguments`` if the gate (and, when it asks, a person) allows; what the model
        reads back: the output, or one line saying why it did not run or how it failed."""
        check = getattr(tool, "check", None)  # a runbook checks its arguments before anyone is asked
        if callable(check):
            try:
                check(arguments)
            except OpenKoiError as exc:
                return f"error: {tool.name} did not run: {exc}"
        action = ProposedAction(tool.name, arguments, reason)
        call_id = new_id()
        try:
            review = await self.gate.review(task_id, action, tool)
        except GateUnavailable as exc:
            return f"error: {tool.name} did not run: the gate could not screen it ({exc})"
        await self.bus.publish(
            ActionReviewed(
                task_id,
                tool.name,
                review.klass.effect.value,
                review.decision.value,
                review.reasons,
                review.preview,
                call_id,
                review.klass.rules,
            )
        )
        approval = None
        if review.decision is ActionDecision.DENY:
            return f"denied: {tool.name} did not run: {'; '.join(review.reasons)}"
        if review.decision is ActionDecision.ASK:
            approval = await self._ask(task_id, review, call_id)
            await self.bus.publish(
                ActionDecided(task_id, approval.id, approval.tool, approval.status, approval.decided_by, call_id)
            )
            if approval.status not in ALLOWED:
                who = f" by {approval.decided_by}" if approval.decided_by else ""
                return f"denied: {tool.name} did not run: {approval.status}{who}"
        return await self._run(task_id, tool, review, approval, call_id)

    async def _ask(self, task_id: str, review: ActionReview, call_id: str) -> ActionApproval:
        approval = review.approval
        assert approval is not None, "the gate makes an approval for every ASK"
        await self.bus.publish(
            ActionApprovalNeeded(
                task_id,
                approval.id,
                approval.tool,
                approval.preview,
                approval.reason,
                approval.effect.value,
                approval.rules,
                approval.domain,
                approval.expires_at.isoformat(),
                review.reasons,
                call_id,
            )
        )
        if self.approver is None:
            return await self.gate.decide(approval.id, review.fingerprint, "deny", "openkoi (no one to ask)")
        await self.approver(review)
        return await self.wait(approval)

    async def wait(self, approval: ActionApproval) -> ActionApproval:
        """The approval once a person decided it or it expired (expiry is recorded here if nobody else did)."""
        while True:
            current = await self.gate.store.actions.get(approval.id)
            if not current.pending:
                return current
            if current.has_expired():
                await self.gate.expire_due()
                continue
            await asyncio.sleep(self.poll_seconds)

    async def _run(
        self, task_id: str, tool: ActionTool, review: ActionReview, approval: ActionApproval | None, call_id: str
    ) -> str:
        streamed = False

        async def stream(chunk: str) -> None:
            nonlocal streamed
            streamed = True
            await self.bus.publish(ActionOutput(task_id, tool.name, chunk, call_id))

        started, clock = utcnow(), time.perf_counter()
        error: str | None = None
        outcome: CallOutcome
        try:
            output = await tool.run(dict(review.action.arguments), on_output=stream)
        except TimeoutError as exc:
            error, outcome = str(exc) or "timed out", "timeout"
        except OpenKoiError as exc:  # our tools' failures are one line already (a server down, a command missing)
            error, outcome = str(exc), "error"
        except Exception as exc:  # a tool's failure is information for the model, not a crash of the task
            error, outcome = f"{type(exc).__name__}: {exc}", "error"
        else:
            outcome = "error" if output.startswith("error:") else "ok"
            if not streamed and output:  # a tool whose result arrives whole (MCP): shown once, as it ends
                await self.bus.publish(ActionOutput(task_id, tool.name, output, call_id))
        duration_ms = (time.perf_counter() - clock) * 1000
        line = one_line(error, ERROR_CHARS) if error else None
        await self.gate.record_call(
            review, outcome, started_at=started, duration_ms=duration_ms, error=line, approval=approval
        )
        await self.bus.publish(ActionEnded(task_id, tool.name, outcome, round(duration_ms, 1), line, call_id))
        return f"error: {tool.name} failed: {line}" if error else output
