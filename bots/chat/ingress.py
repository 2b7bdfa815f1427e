"""Ingress, shared by every platform: dedupe, access, parse, persist, enqueue, answer.

An adapter has already checked authenticity (Slack signature, Telegram secret) and must answer
within the platform's deadline, so ``handle`` does only fast local work: one SQLite transaction
(delivery key + task + conversation, all or nothing) and a non-blocking enqueue. The task runs
later on the worker pool.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bots.chat import commands
from bots.chat.access import AccessPolicy
from bots.chat.desk import ConfirmationDesk
from bots.chat.intake import IntakeWriter
from bots.chat.platform import CannotPost, InboundCommand, Reply
from bots.chat.publisher import ThreadPublisher
from bots.chat.tasklog import task_event
from bots.chat.workers import PoolFull, WorkerPool
from core.engine import Engine
from core.errors import OpenKoiError
from core.models import Scope, TaskOptions, TaskStatus
from core.store.conversations import Conversation
from core.store.intake import Intake

log = logging.getLogger(__name__)

ACTIVE = (TaskStatus.QUEUED.value, TaskStatus.RUNNING.value, TaskStatus.AWAITING_CONFIRMATION.value)


@dataclass
class Ingress:
    engine: Engine
    pool: WorkerPool
    publisher: ThreadPublisher
    desk: ConfirmationDesk
    policies: dict[str, AccessPolicy]
    intake: IntakeWriter
    closing: bool = False

    async def handle(self, command: InboundCommand) -> Reply | None:
        """Answer one command. None means a redelivery of a command already handled: say nothing."""
        if self.closing:
            return Reply("openkoi is restarting; please try again in a minute.", private=True)
        policy = self.policies.get(command.platform)
        if policy is None:
            return Reply("This platform is not configured.", private=True)
        try:
            parsed = commands.parse_command(command.text)
        except commands.CommandError as exc:
            if not await self.engine.store.inbound.claim(command.platform, command.key):
                return None
            return Reply(str(exc), private=True)
        match parsed:
            case commands.Think():
                return await self._think(command, parsed, policy)
        if not await self.engine.store.inbound.claim(command.platform, command.key):
            return None
        match parsed:
            case commands.Help():
                return Reply(commands.HELP_TEXT, private=True)
            case commands.Status(task_id=task_id):
                return await self._status(command, task_id)
            case commands.Cancel(task_id=task_id):
                return await self._cancel(command, task_id, policy)
            case commands.Approve(confirmation_or_task_id=ident):
                return await self.desk.by_task_or_id(command.actor, ident, approve=True)
            case commands.Deny(confirmation_or_task_id=ident):
                return await self.desk.by_task_or_id(command.actor, ident, approve=False)
        raise AssertionError(parsed)  # pragma: no cover - the match above is exhaustive

    async def _think(self, command: InboundCommand, think: commands.Think, policy: AccessPolicy) -> Reply | None:
        actor = command.actor
        if not policy.may_think(actor, command.channel_id):
            if not await self.engine.store.inbound.claim(command.platform, command.key):
                return None
            return Reply("Sorry, you are not allowed to start tasks here.", private=True)
        options = TaskOptions(
            simulate=think.simulate,
            max_iterations=think.max_iterations,
            quality_threshold=think.quality,
            max_cost_usd=think.budget_usd,
        )
        # Delivery key, session, task and conversation are written together (group-committed with
        # other commands arriving at the same moment): a crash can lose neither the task nor the fact
        # that this delivery was taken, so a retry can never make a second task.
        session, task = self.engine.prepare(
            think.description,
            options=options,
            source=command.platform,
            requester=actor.label,
            scope=Scope(platform=command.platform, channel=command.channel_id, team=command.origin.get("guild_id")),
        )
        conversation = Conversation(
            task_id=task.id,
            platform=command.platform,
            channel_id=command.channel_id,
            requester_id=actor.user_id,
            requester_name=actor.name,
            origin=command.origin,
        )
        assert session is not None  # a chat task always gets its own session
        if not await self.intake.add(Intake(command.platform, command.key, session, task, conversation)):
            return None
        task_event("received", task.id, command.platform, command.channel_id, f"by {actor.label}")
        try:
            self.start(task.id)
        except PoolFull:
            return Reply(
                f"Task {task.id[:8]} is saved but the queue is full; it will start when there is room.", task_id=task.id
            )
        return Reply(f"🧠 On it — task {task.id[:8]}. Follow along in the thread.", task_id=task.id)

    async def claim(self, platform: str, key: str) -> bool:
        """Record a delivery that is not a command (e.g. a button press); False for a redelivery."""
        return await self.engine.store.inbound.claim(platform, key)

    def start(self, task_id: str) -> None:
        """Queue a persisted task: post its parent message, then run it."""

        async def job() -> None:
            try:
                await self.publisher.open(task_id)
            except CannotPost:
                # Visible or not run: the requester was told privately why; a task nobody sees must not run.
                await self.engine.cancel(task_id, by="openkoi: its chat refused the thread")
                return
            except Exception:  # the thread can be opened by the first message instead
                log.exception("could not open the thread of task %s", task_id)
            await self.engine.run(task_id)

        self.pool.submit(f"task:{task_id}", job)

    async def _status(self, command: InboundCommand, task_id: str | None) -> Reply:
        store = self.engine.store
        if task_id is None:
            active = await store.conversations.for_platform(command.platform, ACTIVE)
            if not active:
                return Reply("No tasks are running.", private=True)
            lines = [f"{len(active)} active task{'s' if len(active) != 1 else ''}:"]
            for c in active[:10]:
                t = await store.tasks.get(c.task_id)
                lines.append(f"{t.id[:8]} {t.status.value} — {t.description[:80]} (asked by {c.requester_name})")
            return Reply("\n".join(lines), private=True)
        try:
            full = await store.db.resolve_id("tasks", task_id)
            t = await store.tasks.get(full)
        except OpenKoiError as exc:
            return Reply(str(exc), private=True)
        score = f", score {t.score:.2f}" if t.score is not None else ""
        error = f"\n{t.error}" if t.error else ""
        return Reply(
            f"{t.id[:8]} {t.status.value}: {t.description[:200]}\n{t.iterations} iterations{score}{error}", private=True
        )

    async def _cancel(self, command: InboundCommand, task_id: str, policy: AccessPolicy) -> Reply:
        store = self.engine.store
        try:
            full = await store.db.resolve_id("tasks", task_id)
        except OpenKoiError as exc:
            return Reply(str(exc), private=True)
        conversation = await store.conversations.get(full)
        requester = conversation.requester_id if conversation else None
        actor = command.actor
        # The requester may always cancel their own task; approvers may cancel anyone's.
        may = (conversation is not None and actor.platform == conversation.platform) and (
            actor.user_id == requester or policy.may_approve(actor, requester or "")
        )
        if not may:
            return Reply("Only the person who asked (or an approver) may cancel this task.", private=True)
        if not await self.engine.cancel(full, by=actor.label):
            return Reply(f"Task {full[:8]} had already finished.", private=True)
        return Reply(f"Task {full[:8]} cancelled by {actor.name}.", task_id=full)
