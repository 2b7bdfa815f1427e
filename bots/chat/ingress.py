"""Ingress, shared by every platform: dedupe, access, parse, persist, answer.

An adapter has already checked authenticity (Slack signature, Telegram secret) and must answer
within the platform's deadline, so ``handle`` does only fast local work: one SQLite transaction
(delivery key + task + conversation, all or nothing), then a wake-up for the workers, which take
saved tasks from the database. An answer always means the delivery is saved; when it could not be
saved in time, ``handle`` raises ``NotAccepted`` and the adapter says so (or lets the platform
redeliver) instead of answering.

``handle`` answers within ``save_within`` plus ``IN_FLIGHT_GRACE`` (and its own CPU), whatever the
database does: a save still in progress at the deadline, or a slow read for ``status`` and the
like, is answered "the answer follows" with the real answer as the reply's ``follow_up``. Adapters
can therefore await it directly within a platform's deadline.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from bots.chat import commands
from bots.chat.access import AccessPolicy
from bots.chat.acks import AckObserver, timed
from bots.chat.desk import ConfirmationDesk
from bots.chat.intake import IN_FLIGHT_GRACE, IntakeWriter, NotAccepted, StillSaving, Unstorable
from bots.chat.pacing import Pacer
from bots.chat.platform import Actor, InboundCommand, Reply
from bots.chat.tasklog import task_event
from bots.chat.workers import WorkerPool
from core.engine import Engine
from core.errors import OpenKoiError
from core.models import Scope, TaskOptions, TaskStatus
from core.skills.use import invocable
from core.store.conversations import Conversation
from core.store.intake import Intake, NewTask, Outcome, Recorded
from core.store.text import storable

log = logging.getLogger(__name__)

ACTIVE = TaskStatus.values(TaskStatus.UNFINISHED)
# How long a delivery may wait for the database before it is refused as not accepted. Inside
# Slack's and Discord's 3 s, with room for the answer itself.
SAVE_WITHIN_SECONDS = 2.0
# Said when the answer is not known in time; the real one follows (``Reply.follow_up``).
FOLLOWS_TEXT = "⏳ This is taking longer than usual; the answer follows here in a moment."


async def settled(reply: Reply | None) -> Reply | None:
    """The final answer: ``reply`` itself, or the one it said would follow (raising as ``handle`` does).
    For platforms with no deadline on the answer itself (a deferred Discord command, a saved Telegram update)."""
    if reply is None or reply.follow_up is None:
        return reply
    return await reply.follow_up


@dataclass
class Ingress:
    engine: Engine
    pool: WorkerPool
    desk: ConfirmationDesk
    policies: dict[str, AccessPolicy]
    intake: IntakeWriter
    queue_limit: int = 1000
    closing: bool = False
    save_within: float = SAVE_WITHIN_SECONDS
    # The per-chat pacer the thread publisher uses: an adapter's answer to a command takes its turn
    # with the threads' posts in the same chat (Telegram allows 20 a minute in a group).
    pacer: Pacer = field(default_factory=Pacer)
    # `/think digest today|week`: (span, platform, channel) -> starts posting it there; None: no digests.
    digests: Callable[[commands.DigestSpan, str, str], None] | None = None
    # `/think soul` and `/think mind …`: (view, platform, channel) -> starts posting it there; None: not wired.
    views: Callable[[commands.View, str, str], None] | None = None
    # Told how long each command took to answer (``bots.chat.acks``); None: not timed.
    on_answer: AckObserver | None = None

    async def handle(self, command: InboundCommand) -> Reply | None:
        """Answer one command. None means a redelivery of a command already handled: say nothing.

        Raises ``NotAccepted`` when the delivery could not be saved within ``save_within`` seconds:
        nothing was saved, and the adapter must not claim otherwise. Returns within ``save_within``
        plus ``IN_FLIGHT_GRACE``: an answer not known by then (a save still under way, a slow read)
        is a reply saying it follows, whose ``follow_up`` gives it (or raises as this would)."""
        with timed(self.on_answer, command.platform, "command"):
            return await self._handle(command)

    async def _handle(self, command: InboundCommand) -> Reply | None:
        if self.closing:
            # Not saved, so not answered: Telegram and Slack's Events API deliver it again, to the
            # next process; where there is no redelivery the adapter says "not accepted, try again".
            raise NotAccepted("openkoi is restarting")
        policy = self.policies.get(command.platform)
        if policy is None:
            return Reply("This platform is not configured.", private=True)
        command = _storable(command)
        deadline = asyncio.get_running_loop().time() + self.save_within
        try:
            parsed = commands.parse_command(command.text)
        except commands.CommandError as exc:
            return await self._answer_once(command, deadline, Reply(str(exc), private=True))
        match parsed:
            case commands.Think():
                return await self._think(command, parsed, policy, deadline)
        try:
            recorded = await self._record(command, deadline)
        except Unstorable as exc:
            return _unstorable(exc)
        except StillSaving as slow:
            return _follows(self._after_record(command, parsed, policy, slow.outcome, deadline=None))
        return await self._after_record(command, parsed, policy, recorded, deadline=deadline)

    async def _after_record(
        self,
        command: InboundCommand,
        parsed: commands.Command,
        policy: AccessPolicy,
        recorded: Recorded | asyncio.Future[Recorded],
        deadline: float | None,
    ) -> Reply | None:
        """The answer to a recorded command that starts no task; with a ``deadline``, an answer that
        needs the database (status, cancel, approve, deny) and is not ready by it follows instead."""
        try:
            outcome = (recorded if isinstance(recorded, Recorded) else await recorded).outcome
        except Unstorable as exc:
            return _unstorable(exc)
        if outcome is Outcome.DUPLICATE:
            return None
        match parsed:
            case commands.Help():
                return Reply(commands.HELP_TEXT, private=True)
            case commands.ShowDigest(span=span):
                return self._digest(command, span, policy)
            case commands.CommandNamed(answer=said):
                return Reply(said, private=True)
            case commands.ShowSoul() | commands.ShowMind():
                return self._view(command, parsed, policy)
        answer = self._from_store(command, parsed, policy)
        if deadline is None:
            return await answer
        return await _in_time(answer, deadline + IN_FLIGHT_GRACE)

    async def _from_store(self, command: InboundCommand, parsed: commands.Command, policy: AccessPolicy) -> Reply:
        match parsed:
            case commands.Status(task_id=task_id):
                return await self._status(command, task_id)
            case commands.Cancel(task_id=task_id):
                return await self._cancel(command, task_id, policy)
            case commands.Approve(confirmation_or_task_id=ident):
                return await self.desk.by_task_or_id(command.actor, ident, approve=True)
            case commands.Deny(confirmation_or_task_id=ident):
                return await self.desk.by_task_or_id(command.actor, ident, approve=False)
            case commands.TrustShow() | commands.TrustGrant() | commands.TrustRevoke() | commands.TrustAudit():
                if self.desk.trust is None:
                    return Reply("Trust levels are not available in this openkoi.", private=True)
                return await self.desk.trust.command(command, parsed)
        raise AssertionError(parsed)  # pragma: no cover - the other kinds are answered above

    async def _record(self, command: InboundCommand, deadline: float, new: NewTask | None = None) -> Recorded:
        return await self.intake.add(Intake(command.platform, command.key, new), deadline)

    async def _answer_once(self, command: InboundCommand, deadline: float, reply: Reply) -> Reply | None:
        """``reply``, after recording the delivery, so that a redelivery is not answered again."""
        try:
            recorded = await self._record(command, deadline)
        except Unstorable as exc:
            return _unstorable(exc)
        except StillSaving as slow:
            return _follows(_once(slow.outcome, reply))
        return None if recorded.outcome is Outcome.DUPLICATE else reply

    async def _think(
        self, command: InboundCommand, think: commands.Think, policy: AccessPolicy, deadline: float
    ) -> Reply | None:
        actor = command.actor
        if not policy.may_think(actor, command.channel_id):
            return await self._answer_once(
                command, deadline, Reply("Sorry, you are not allowed to start tasks here.", private=True)
            )
        if think.skill is not None:
            try:
                async with asyncio.timeout_at(deadline):
                    problem = await self._skill_problem(think.skill)
            except TimeoutError:
                raise NotAccepted("reading the skills took too long") from None
            if problem is not None:
                return await self._answer_once(command, deadline, Reply(problem, private=True))
        options = TaskOptions(
            simulate=think.simulate,
            max_iterations=think.max_iterations,
            quality_threshold=think.quality,
            max_cost_usd=think.budget_usd,
            skill=think.skill,
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
        try:
            recorded = await self._record(command, deadline, NewTask(session, task, conversation))
        except Unstorable as exc:
            return _unstorable(exc)
        except StillSaving as slow:
            return _follows(self._think_later(command, task.id, slow.outcome))
        return self._think_reply(command, task.id, recorded)

    async def _think_later(
        self, command: InboundCommand, task_id: str, outcome: asyncio.Future[Recorded]
    ) -> Reply | None:
        try:
            recorded = await outcome
        except Unstorable as exc:
            return _unstorable(exc)
        return self._think_reply(command, task_id, recorded)

    def _think_reply(self, command: InboundCommand, task_id: str, recorded: Recorded) -> Reply | None:
        actor = command.actor
        match recorded.outcome:
            case Outcome.DUPLICATE:
                return None
            case Outcome.USER_LIMIT:
                return Reply(
                    f"You already have {recorded.count} tasks waiting or running (the limit is"
                    f" {self.intake.limits.per_user}), so this one was not started. Try again when one has"
                    " finished, or cancel one with /think cancel <id>.",
                    private=True,
                )
            case Outcome.CHANNEL_LIMIT:
                return Reply(
                    f"This channel already has {recorded.count} tasks waiting or running (the limit is"
                    f" {self.intake.limits.per_channel}), so this one was not started. Try again when one"
                    " has finished.",
                    private=True,
                )
        task_event("received", task_id, command.platform, command.channel_id, f"by {actor.label}")
        self.pool.wake()
        return Reply(self._queued_text(task_id[:8], recorded.count), task_id=task_id)

    async def _skill_problem(self, name: str) -> str | None:
        """Why ``--skill name`` cannot be used, or None. Checked before the task is saved, so a typo
        gets an answer now instead of a failed task; the SKILL.md files are read off the event loop."""
        try:
            catalog = await asyncio.to_thread(self.engine.skill_catalog)
            invocable(catalog, name)
        except OpenKoiError as exc:
            return f"Not started: {exc}"
        return None

    def _queued_text(self, short_id: str, ahead: int) -> str:
        """The acknowledgement of a saved task, honest about when it will start."""
        if ahead < self.pool.idle:
            return f"🧠 On it — task {short_id}. Follow along in the thread."
        position = f"{ahead} task{'s' if ahead != 1 else ''} ahead of it" if ahead else "it is next"
        if ahead >= self.queue_limit:
            return (
                f"📥 Task {short_id} is saved, but the queue is full ({position}). It will run when a worker"
                " is free; please hold further requests for now."
            )
        return f"📥 Task {short_id} is saved and queued ({position}); it starts when a worker is free."

    async def claim(self, platform: str, key: str) -> bool:
        """Record a delivery that is not a command (e.g. a button press); False for a redelivery."""
        return await self.engine.store.inbound.claim(platform, key)

    def _digest(self, command: InboundCommand, span: commands.DigestSpan, policy: AccessPolicy) -> Reply:
        """Anyone who may /think here may ask for a digest; it is posted in this channel in the background."""
        if not policy.may_think(command.actor, command.channel_id):
            return Reply("Sorry, you are not allowed to ask for digests here.", private=True)
        if self.digests is None:
            return Reply("Digests are not available in this openkoi.", private=True)
        self.digests(span, command.platform, command.channel_id)
        what = "today's digest (so far)" if span == "today" else "this week's digest (so far)"
        return Reply(f"📊 Posting {what} here.", private=True)

    def _view(self, command: InboundCommand, view: commands.View, policy: AccessPolicy) -> Reply:
        """`/think soul`, `/think mind …`: read-only; anyone who may /think here may ask. Posted in this
        channel in the background, in the platform's markup."""
        if not policy.may_think(command.actor, command.channel_id):
            return Reply("Sorry, you are not allowed to ask that here.", private=True)
        if self.views is None:
            return Reply("This is not available in this openkoi.", private=True)
        self.views(view, command.platform, command.channel_id)
        what = "the team's SOUL.md" if isinstance(view, commands.ShowSoul) else f"the agencies' {view.view} record"
        return Reply(f"🧠 Posting {what} here.", private=True)

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


def _storable(command: InboundCommand) -> InboundCommand:
    """The command with text SQLite can store (lone surrogates replaced) in every field that is saved."""
    a = command.actor
    fields = (command.key, a.user_id, a.name, command.channel_id, command.text)
    key, user_id, name, channel_id, text = cleaned = tuple(storable(f) for f in fields)
    if cleaned == fields:  # nearly always: nothing to copy
        return command
    actor = Actor(a.platform, user_id, name, a.roles)
    return dataclasses.replace(command, key=key, actor=actor, channel_id=channel_id, text=text)


def _follows(answer: Coroutine[Any, Any, Reply | None]) -> Reply:
    """Say the answer follows, and start working it out: the reply's ``follow_up``."""
    return Reply(FOLLOWS_TEXT, private=True, follow_up=asyncio.ensure_future(answer))


async def _in_time(answer: Coroutine[Any, Any, Reply | None], by: float) -> Reply | None:
    """``answer`` if it is ready by ``by`` (event-loop time), else a reply saying it follows."""
    work = asyncio.ensure_future(answer)
    done, _ = await asyncio.wait({work}, timeout=max(by - asyncio.get_running_loop().time(), 0.0))
    if done:
        return work.result()
    return Reply(FOLLOWS_TEXT, private=True, follow_up=work)


async def _once(outcome: asyncio.Future[Recorded], reply: Reply) -> Reply | None:
    try:
        return None if (await outcome).outcome is Outcome.DUPLICATE else reply
    except Unstorable as exc:
        return _unstorable(exc)


def _unstorable(exc: Unstorable) -> Reply:
    return Reply(f"Sorry, this command could not be saved ({exc}), so nothing was started.", private=True)
