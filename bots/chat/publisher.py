"""Render engine events into each task's chat thread.

Each task gets its own ordered outbox: events are queued (never awaited by the engine), so a
rate-limited platform delays only that task's messages. Every message is posted into a named
slot ("directive", "iteration:2", …) recorded in SQLite; a slot already posted is never posted
again, which makes replays and restarts safe. The parent message's status is edited at most once
per ``edit_interval`` and only when its text changes.

This is where chat text leaves the service, so it is also where the service's own secrets are
scrubbed from every event before rendering (``core.secrets``), where each send waits for its
chat's turn (``bots.chat.pacing``: a status edit reads the latest text once its turn comes, so
edits coalesce), and where a chat that refuses the task is noticed: the requester is told privately
why and what to do, and the task is cancelled, not run unseen. For the parent message ``open`` raises
``CannotPost`` (the task never starts); for a later message (the bot was removed from the channel,
or lost a permission, mid-task) the publisher cancels the task itself, since its Override buttons
or its result would otherwise go nowhere.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bots.chat import action_view, render
from bots.chat.action_view import CallView
from bots.chat.feedback import feedback_buttons
from bots.chat.pacing import Pacer
from bots.chat.platform import Button, CannotPost, ChatPlatform, Outgoing
from core.deliberation.verdict import Verdict
from core.events import (
    ActionApprovalNeeded,
    ActionDecided,
    ActionEnded,
    ActionOutput,
    ActionReviewed,
    ConfirmationNeeded,
    ConfirmationResolved,
    DeliberationReady,
    DirectiveReady,
    Evaluated,
    Event,
    EventBus,
    IterationStarted,
    Notice,
    PlanReady,
    SimulationReady,
    TaskFailed,
    TaskFinished,
    TaskStarted,
)
from core.feedback import RATEABLE
from core.models import TaskStatus
from core.secrets import SECRETS
from core.store import Store
from core.store.conversations import Conversation, PostedMessage

log = logging.getLogger(__name__)

REFUSED_BY = "openkoi: its chat refused the thread"
# At shutdown, how long the drain waits with no message going out before it stops waiting for a platform.
DRAIN_STALL_SECONDS = 10.0

Op = Callable[["TaskThread"], Awaitable[None]]
Lost = Callable[["TaskThread", CannotPost], Awaitable[None]]


@dataclass
class TaskThread:
    """One task's place in chat and its ordered outbox."""

    conversation: Conversation
    platform: ChatPlatform
    store: Store
    description: str
    ops: asyncio.Queue[Op] = field(default_factory=asyncio.Queue)
    status_text: str = ""
    shown_status: str = ""
    last_edit: float = 0.0
    sender: asyncio.Task[None] | None = None
    status_changed: asyncio.Event = field(default_factory=asyncio.Event)
    editor: asyncio.Task[None] | None = None
    pacer: Pacer = field(default_factory=Pacer)
    refused: CannotPost | None = None  # the chat refused us: nothing more is sent
    lost: Lost | None = None  # called once when the chat refuses a message after the parent
    calls: dict[str, CallView] = field(default_factory=dict)  # its actions' messages, by call id
    call_edits: dict[str, asyncio.Task[None]] = field(default_factory=dict)  # an edit waiting for its interval
    sent: int = 0  # messages and edits attempted so far: the publisher's ``drain`` reads it as progress

    @property
    def task_id(self) -> str:
        return self.conversation.task_id

    def parent_text(self) -> str:
        m = self.platform.markup
        c = self.conversation
        return render.parent(m, c.task_id, self.description, c.requester_name, self.status_text)

    async def _turn(self) -> None:
        """Wait until this chat may take one more message or edit (shared by every task posting there)."""
        channel = self.conversation.channel_id
        await self.pacer.turn(self.platform.name, channel, self.platform.pace(channel))

    async def ensure_open(self) -> None:
        """Post the parent message once; later calls (and restarts) reuse it. Raises CannotPost
        (now and on every later call) when the chat refuses it."""
        if self.conversation.parent_message_id is not None:
            return
        if self.refused is not None:
            raise self.refused
        await self._turn()
        try:
            parent_id, thread_id = await self.platform.open_thread(self.conversation, Outgoing(self.parent_text()))
        except CannotPost as exc:
            self.refused = exc
            raise
        await self.store.conversations.set_thread(self.task_id, parent_id, thread_id)
        c = self.conversation
        self.conversation = Conversation(
            c.task_id, c.platform, c.channel_id, c.requester_id, c.requester_name, thread_id, parent_id, c.origin
        )
        self.shown_status = self.status_text
        self.last_edit = time.monotonic()

    async def post(self, slot: str, message: Outgoing) -> None:
        if await self.store.conversations.posted(self.task_id, slot) is not None:
            return  # already in the thread (a replayed event or a restart)
        await self.ensure_open()
        if self.refused is not None:
            return  # the chat refused an earlier message: the requester was told, the task cancelled
        await self._turn()
        try:
            message_id = await self.platform.post(self.conversation, message)
        except CannotPost as exc:
            await self._refuse(exc)
            return
        await self.store.conversations.record_post(
            PostedMessage(self.task_id, slot, self.platform.name, self.conversation.channel_id, message_id)
        )

    async def edit_slot(self, slot: str, message: Outgoing) -> None:
        posted = await self.store.conversations.posted(self.task_id, slot)
        if posted is None:
            await self.post(slot, message)
            return
        if self.refused is not None:
            return
        await self._turn()
        try:
            await self.platform.edit(self.conversation, posted.message_id, message)
        except CannotPost as exc:
            await self._refuse(exc)

    async def _refuse(self, exc: CannotPost) -> None:
        """The chat refused a message after the parent: send nothing more, and say so once."""
        if self.refused is not None:
            return
        self.refused = exc
        if self.lost is not None:
            await self.lost(self, exc)

    def set_status(self, text: str) -> None:
        self.status_text = text
        self.status_changed.set()

    async def run_ops(self) -> None:
        while True:
            op = await self.ops.get()
            try:
                await op(self)
            except Exception:  # a failed post must not stop the thread's later messages
                log.exception("posting to %s for task %s failed", self.platform.name, self.task_id)
            finally:
                self.sent += 1
                self.ops.task_done()

    async def run_editor(self) -> None:
        while True:
            await self.status_changed.wait()
            wait = self.platform.edit_interval - (time.monotonic() - self.last_edit)
            if wait > 0:
                await asyncio.sleep(wait)
            self.status_changed.clear()
            if self.status_text == self.shown_status or self.conversation.parent_message_id is None:
                continue
            if self.refused is not None:
                continue
            await self._turn()
            text = self.status_text  # read after the turn: changes made while waiting coalesce into this edit
            try:
                await self.platform.edit(
                    self.conversation, self.conversation.parent_message_id, Outgoing(self.parent_text())
                )
                self.shown_status = text
            except CannotPost as exc:
                await self._refuse(exc)
            except Exception:
                log.exception("editing the parent message of task %s failed", self.task_id)
            self.sent += 1
            self.last_edit = time.monotonic()

    async def settled(self) -> None:
        """Wait until every queued message is posted and the latest status is shown."""
        await self.ops.join()
        while self.conversation.parent_message_id is not None and self.shown_status != self.status_text:
            if self.editor is None or self.editor.done():
                return
            await asyncio.sleep(0.02)


@dataclass
class ThreadPublisher:
    store: Store
    platforms: dict[str, ChatPlatform]
    confirmation_ttl_minutes: float
    # Cancels a task whose chat refused a message mid-task: (task id, who cancelled it) -> False if it
    # had already finished.
    cancel: Callable[[str, str], Awaitable[bool]] | None = None
    threads: dict[str, TaskThread] = field(default_factory=dict)
    pacer: Pacer = field(default_factory=Pacer)
    _missing: set[str] = field(default_factory=set)
    _retiring: set[asyncio.Task[None]] = field(default_factory=set)

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(self.on_event)

    async def thread(self, task_id: str) -> TaskThread | None:
        """The task's chat thread, or None for tasks that did not come from chat (e.g. the terminal)."""
        found = self.threads.get(task_id)
        if found is not None or task_id in self._missing:
            return found
        conversation = await self.store.conversations.get(task_id)
        platform = self.platforms.get(conversation.platform) if conversation else None
        if conversation is None or platform is None:
            self._missing.add(task_id)
            return None
        task = await self.store.tasks.get(task_id)
        found = self.threads.get(task_id)  # another event may have created it meanwhile
        if found is not None:
            return found
        thread = TaskThread(
            conversation, platform, self.store, SECRETS.redact(task.description), pacer=self.pacer, lost=self._lost
        )
        thread.status_text = render.status_line(task.status)
        thread.sender = asyncio.create_task(thread.run_ops(), name=f"outbox-{task_id}")
        thread.editor = asyncio.create_task(thread.run_editor(), name=f"status-{task_id}")
        self.threads[task_id] = thread
        return thread

    async def open(self, task_id: str) -> None:
        """Post the task's parent message (before it starts, so its thread exists for the first event).

        Raises ``CannotPost`` when the chat refuses it, after telling the requester privately why and
        what to do; the caller must then not run the task. Other failures are logged, not raised:
        the first message of the thread tries again.
        """
        thread = await self.thread(task_id)
        if thread is None:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def op(t: TaskThread) -> None:
            try:
                await t.ensure_open()
            except CannotPost as exc:
                done.set_exception(exc)
                return
            finally:
                if not done.done():
                    done.set_result(None)

        thread.ops.put_nowait(op)
        try:
            await done
        except CannotPost as exc:
            log.warning("task %s: %s refused its thread: %s", task_id, thread.platform.name, exc.reason)
            notice = render.cannot_post(task_id, thread.description, exc.reason, exc.remedy)
            try:
                await thread.platform.notify_requester(thread.conversation, notice)
            except Exception:  # the contract says best effort; a bug there must not let the task run
                log.exception("telling the requester of task %s failed", task_id)
            raise

    async def _lost(self, thread: TaskThread, exc: CannotPost) -> None:
        """The chat refused a message after the parent: cancel the task, tell the requester privately."""
        task_id = thread.task_id
        log.warning("task %s: %s refused a message in its thread: %s", task_id, thread.platform.name, exc.reason)
        cancelled = self.cancel is not None and await self.cancel(task_id, REFUSED_BY)
        notice = render.lost_thread(task_id, thread.description, exc.reason, exc.remedy, cancelled)
        try:
            await thread.platform.notify_requester(thread.conversation, notice)
        except Exception:  # best effort
            log.exception("telling the requester of task %s failed", task_id)

    async def on_event(self, event: Event) -> None:
        thread = await self.thread(event.task_id)
        if thread is None:
            return
        if thread.refused is not None:  # its chat refused us: the requester was told; nothing else goes out
            if isinstance(event, TaskFinished):
                self._retire_later(thread)
            return
        event = SECRETS.scrub(event)  # before rendering: markup must not hide a secret from the match
        m = thread.platform.markup
        match event:
            case TaskStarted():
                thread.set_status(render.status_line(TaskStatus.RUNNING, "framing the task"))
            case DirectiveReady(directive=d, fallback=fb):
                self._post(thread, "directive", render.directive(m, d, fb))
                thread.set_status(render.status_line(TaskStatus.RUNNING, "the Parliament deliberates"))
            case DeliberationReady(deliberation_id=did, verdict=Verdict() as v):
                self._post(thread, f"verdict:{did}", render.verdict(m, v))
            case ConfirmationNeeded() as c:
                buttons = (
                    Button("Override", "approve", c.confirmation_id),
                    Button("Cancel", "deny", c.confirmation_id),
                )
                text = render.confirmation(m, c, self.confirmation_ttl_minutes)
                self._post(thread, f"confirmation:{c.confirmation_id}", text, buttons)
                thread.set_status(render.status_line(TaskStatus.AWAITING_CONFIRMATION, "an approver must decide"))
            case ConfirmationResolved() as r:
                stored = await self.store.confirmations.get(r.confirmation_id)
                reason = SECRETS.redact(stored.reason) if stored else ""  # model text, read back from the store
                when = stored.decided_at if stored and stored.decided_at else datetime.now(UTC)
                text = render.confirmation_decided(m, reason, r, when)
                thread.ops.put_nowait(lambda t: t.edit_slot(f"confirmation:{r.confirmation_id}", Outgoing(text)))
                if r.approved:
                    thread.set_status(render.status_line(TaskStatus.RUNNING, f"overridden by {r.decided_by}"))
            case SimulationReady(simulation=s):
                self._post(thread, "simulation", render.simulation(m, s))
            case PlanReady(plan=p):
                thread.set_status(
                    render.status_line(TaskStatus.RUNNING, f"{len(p.steps)}-step plan, {p.category} rubric")
                )
            case IterationStarted(iteration=i, max_iterations=n):
                thread.set_status(render.status_line(TaskStatus.RUNNING, f"iteration {i} of up to {n}"))
            case Evaluated(score=score) as e if score is not None:
                self._post(thread, f"iteration:{e.iteration}", render.iteration(m, e))
            case Notice(text=text, level=level) if level in {"warn", "error"}:
                self._post(thread, f"notice:{zlib.crc32(text.encode())}", render.notice(m, text))
            case ActionReviewed() | ActionApprovalNeeded() | ActionDecided() | ActionOutput() | ActionEnded():
                await self._on_action(thread, event)
            case TaskFailed():
                pass  # the finish message says it once
            case TaskFinished() as f:
                if f.output and f.reason != "simulation":
                    for n, chunk in enumerate(m.document(f.output)):
                        self._post(thread, f"result:{n}", chunk)
                self._post_done(thread, render.done(m, f), rateable=f.status in RATEABLE)
                detail = f"score {f.score:.2f}" if f.score is not None else ""
                thread.set_status(render.status_line(f.status, detail))
                self._retire_later(thread)

    async def _on_action(self, thread: TaskThread, event: Event) -> None:
        """An action's card and its call's message (see ``bots.chat.action_view``)."""
        m = thread.platform.markup
        match event:
            case ActionReviewed(call_id=cid, tool=tool, preview=preview, effect=effect, decision=decision) as r:
                view = thread.calls[cid] = CallView(tool, preview, effect)
                if decision == "deny":
                    view.state, view.detail = "denied", "; ".join(r.reasons)
                if decision != "ask":  # an asked call gets its message once it is allowed and runs
                    self._show_call(thread, cid)
            case ActionApprovalNeeded(approval_id=aid, tool=tool) as a:
                self._post(thread, f"action:{aid}", action_view.card(m, a), action_view.card_buttons(aid))
                thread.set_status(render.status_line(TaskStatus.RUNNING, f"an approver must allow {tool}"))
            case ActionDecided(approval_id=aid, status=status, decided_by=by, call_id=cid):
                stored = await self.store.actions.find(aid)
                if stored is not None:
                    text = action_view.decided(m, stored)
                    thread.ops.put_nowait(lambda t: t.edit_slot(f"action:{aid}", Outgoing(text)))
                asked = thread.calls.get(cid)
                if asked is not None and status in ("denied", "expired"):
                    asked.state, asked.detail = "denied", f"{status} by {by}" if by else status
                thread.set_status(render.status_line(TaskStatus.RUNNING, f"{event.tool} {status.replace('_', ' ')}"))
            case ActionOutput(call_id=cid, chunk=chunk) if cid in thread.calls:
                thread.calls[cid].add(chunk)
                if cid not in thread.call_edits:  # at most one edit per interval; it shows the latest output
                    thread.call_edits[cid] = asyncio.create_task(self._edit_call_later(thread, cid))
            case ActionEnded(call_id=cid, outcome=outcome, duration_ms=ms, error=error) if cid in thread.calls:
                view = thread.calls[cid]
                view.state, view.duration_ms, view.detail = outcome, ms, error or ""
                pending = thread.call_edits.pop(cid, None)
                if pending is not None:
                    pending.cancel()
                self._show_call(thread, cid)

    def _show_call(self, thread: TaskThread, call_id: str) -> None:
        """Post or edit the call's message with what it shows when its turn comes (edits coalesce)."""
        view = thread.calls[call_id]

        async def op(t: TaskThread) -> None:
            await t.edit_slot(f"call:{call_id}", Outgoing(view.render(t.platform.markup)))

        thread.ops.put_nowait(op)

    async def _edit_call_later(self, thread: TaskThread, call_id: str) -> None:
        await asyncio.sleep(thread.platform.edit_interval)
        thread.call_edits.pop(call_id, None)
        self._show_call(thread, call_id)

    def _retire_later(self, thread: TaskThread) -> None:
        retiring = asyncio.create_task(self._retire(thread))
        self._retiring.add(retiring)
        retiring.add_done_callback(self._retiring.discard)

    async def _retire(self, thread: TaskThread) -> None:
        """Forget a finished task's thread once everything it had to say is out."""
        await thread.settled()
        if self.threads.get(thread.task_id) is thread:
            del self.threads[thread.task_id]
        for job in (thread.sender, thread.editor, *thread.call_edits.values()):
            if job is not None:
                job.cancel()

    def _post_done(self, thread: TaskThread, text: str, *, rateable: bool) -> None:
        """The task's last message; with 👍 / 👎 when it has a result to rate. The buttons' id is
        made inside the outbox, so the engine never waits for it."""

        async def op(t: TaskThread) -> None:
            if await t.store.conversations.posted(t.task_id, "done") is not None:
                return
            buttons = await feedback_buttons(t.store, t.task_id) if rateable else ()
            await t.post("done", Outgoing(text, buttons))

        thread.ops.put_nowait(op)

    def _post(self, thread: TaskThread, slot: str, text: str, buttons: tuple[Button, ...] = ()) -> None:
        message = Outgoing(text, buttons)
        thread.ops.put_nowait(lambda t: t.post(slot, message))

    async def flush(self, within: float) -> None:
        """Wait (up to ``within`` seconds) until every thread's outbox is empty and its status shown."""
        threads = list(self.threads.values())
        if self._retiring:
            await asyncio.wait(list(self._retiring), timeout=within)
        if threads:
            await asyncio.wait([asyncio.ensure_future(t.settled()) for t in threads], timeout=within)

    async def drain(self, within: float, stall: float = DRAIN_STALL_SECONDS) -> int:
        """At shutdown: wait until every thread's outbox is empty and its status shown (each finished task's
        final message included), while messages keep going out: up to ``within`` seconds, or until none has
        gone out for ``stall`` seconds (its platform stopped taking them). Returns how many threads still
        hold messages. Pacing is kept: a busy channel's messages go out at its rate, in order."""
        threads = list(self.threads.values())
        waits = [asyncio.ensure_future(t.settled()) for t in threads]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        progress, moved_at = -1, loop.time()
        try:
            while pending := [w for w in waits if not w.done()]:
                now = loop.time()
                if (sent := sum(t.sent for t in threads)) != progress:
                    progress, moved_at = sent, now
                if now >= deadline or now - moved_at >= stall:
                    break
                await asyncio.wait(pending, timeout=0.05)  # returns as soon as the last one is out
            return sum(1 for w in waits if not w.done())
        finally:
            for w in waits:
                w.cancel()

    async def close(self) -> None:
        """Stop every thread's outbox and status editor: nothing is posted after this returns. The service
        calls it before any platform closes its HTTP session, so no send can meet a closed session."""
        for t in self.threads.values():
            for job in (t.sender, t.editor, *t.call_edits.values()):
                if job is not None:
                    job.cancel()
        await asyncio.gather(
            *[j for t in self.threads.values() for j in (t.sender, t.editor) if j is not None], return_exceptions=True
        )
        self.threads.clear()
