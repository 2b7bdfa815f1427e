"""The confirmation desk: every button press (``press``), Override / Cancel decisions (and `/think
approve|deny`), and expiry. A press reaches the desk that owns its action: Override / Cancel here,
👍 / 👎 ``feedback``, a digest's Approve / Dismiss on skill proposals ``proposals``, Confirm / Refuse on a
trust grant waiting for a second approver ``trust``, Allow once / always / Deny on an action ``actions``; so every adapter
reaches every kind of button through the one method of the one desk it is given.

A decision is checked (who may decide, is it still pending, has it expired), recorded atomically
by the engine, answered at once; a worker then takes the approved task from the database and
continues it (``continue_task`` only wakes the pool).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from bots.chat.access import AccessPolicy
from bots.chat.acks import AckObserver, timed
from bots.chat.action_desk import ActionDesk
from bots.chat.feedback import FeedbackDesk
from bots.chat.platform import Actor, ButtonAction, Reply
from bots.chat.presses import NO_LONGER_VALID
from bots.chat.proposal_desk import ProposalDesk
from bots.chat.trust_desk import TrustDesk
from bots.chat.workers import WorkerPool
from core.engine import Engine
from core.errors import AmbiguousId, NotFound
from core.feedback import Vote

log = logging.getLogger(__name__)


@dataclass
class ConfirmationDesk:
    engine: Engine
    pool: WorkerPool
    policies: dict[str, AccessPolicy]
    feedback: FeedbackDesk = field(init=False)
    actions: ActionDesk = field(init=False)
    # Set by the service when digests are wired; None: proposal buttons are answered as no longer valid.
    proposals: ProposalDesk | None = None
    # Set by the service: `/think trust …` and the Confirm / Refuse buttons of a grant waiting for a second
    # approver (they carry the request's id with the approve / deny actions).
    trust: TrustDesk | None = None
    # Told how long each press took to answer (``bots.chat.acks``); None: not timed.
    on_answer: AckObserver | None = None

    def __post_init__(self) -> None:
        self.feedback = FeedbackDesk(self.engine.store)
        self.actions = ActionDesk(self.engine, self.policies)

    async def press(self, actor: Actor, action: ButtonAction, target_id: str) -> Reply:
        """Any button press: ``action`` on the opaque ``target_id`` its button carried. Refusals are private."""
        with timed(self.on_answer, actor.platform, "press"):
            return await self._press(actor, action, target_id)

    async def _press(self, actor: Actor, action: ButtonAction, target_id: str) -> Reply:
        if action == "up" or action == "down":
            return await self.feedback.press(actor, target_id, Vote.UP if action == "up" else Vote.DOWN)
        if action == "skill_approve" or action == "skill_dismiss":
            if self.proposals is None:
                return Reply(NO_LONGER_VALID, private=True)
            return await self.proposals.press(actor, target_id, action == "skill_approve")
        if action == "act_once" or action == "act_always" or action == "act_deny":
            return await self.actions.press(actor, action, target_id)
        if self.trust is not None and await self.trust.owns(target_id):
            return await self.trust.press(actor, target_id, action == "approve")
        return await self.decide(actor, target_id, action == "approve")

    async def decide(self, actor: Actor, confirmation_id: str, approve: bool) -> Reply:
        """Decide a pending confirmation. Refusals are private; a decision is announced in the thread."""
        store = self.engine.store
        confirmation = await store.confirmations.get(confirmation_id)
        conversation = await store.conversations.get(confirmation.task_id) if confirmation else None
        if confirmation is None or conversation is None:
            return Reply("There is no such override request.", private=True)
        task_id = confirmation.task_id
        if not confirmation.pending:
            by = f" by {confirmation.decided_by}" if confirmation.decided_by else ""
            return Reply(f"This request was already {confirmation.status}{by}.", private=True)
        if confirmation.has_expired():
            await self.engine.expire(task_id, confirmation_id)
            return Reply("This request has expired; the task was cancelled.", private=True)
        policy = self.policies.get(conversation.platform)
        if policy is None or actor.platform != conversation.platform:
            return Reply("Sorry, you may not decide this override.", private=True)
        requester = conversation.requester_id
        allowed = policy.may_approve(actor, requester) if approve else policy.may_cancel(actor, requester)
        if not allowed:
            log.info("refused %s deciding confirmation %s", actor.label, confirmation_id)
            return Reply(refusal(policy, conversation.platform, actor.user_id == requester, approve), private=True)
        if not await self.engine.decide_confirmation(task_id, confirmation_id, approve, actor.label):
            return Reply("Someone else decided this request first.", private=True)
        if approve:
            self.continue_task(task_id)
            return Reply(f"Override approved by {actor.name}; the task continues.", task_id=task_id)
        return Reply(f"Cancelled by {actor.name}.", task_id=task_id)

    async def by_task_or_id(self, actor: Actor, ident: str, approve: bool) -> Reply:
        """`/think approve|deny <id>`: the id may be the confirmation's or its task's (prefixes work)."""
        store = self.engine.store
        try:
            confirmation_id = await store.db.resolve_id("confirmations", ident)
        except AmbiguousId as exc:
            return Reply(str(exc), private=True)
        except NotFound:
            try:
                task_id = await store.db.resolve_id("tasks", ident)
            except AmbiguousId as exc:
                return Reply(str(exc), private=True)
            except NotFound:
                return Reply(f"No task or override request with id {ident}.", private=True)
            pending = await store.confirmations.pending_for_task(task_id)
            if pending is None:
                return Reply(f"Task {task_id[:8]} is not waiting for an override.", private=True)
            confirmation_id = pending.id
        return await self.decide(actor, confirmation_id, approve)

    def continue_task(self, task_id: str) -> None:
        # The approval is recorded: a free worker finds the task by it, now or after a restart.
        self.pool.wake()

    async def sweep(self) -> int:
        """Expire every pending confirmation past its deadline (cancelling its task)."""
        expired = 0
        for confirmation in await self.engine.store.confirmations.expired():
            if await self.engine.expire(confirmation.task_id, confirmation.id):
                expired += 1
        if self.trust is not None:  # and the grants no second approver confirmed in time
            expired += await self.trust.sweep()
        expired += await self.actions.sweep()  # and the actions nobody allowed in time
        return expired

    async def run_sweeps(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.sweep()
            except Exception:
                log.exception("confirmation expiry sweep failed")


def refusal(policy: AccessPolicy, platform: str, own_task: bool, approve: bool) -> str:
    """Why a press was refused, naming the setting that would allow it."""
    key = f"[{platform}.access]"
    if not approve:
        return "Sorry, only the person who asked or an approver may cancel this task."
    if policy.has_approvers:
        if own_task:
            return (
                f"Four eyes: someone else must override your own task (one of the approvers in {key}),"
                " unless self_approval = true is set there."
            )
        return f"Sorry, only the approvers configured in {key} may override a block."
    if policy.rules.self_approval and not own_task:
        return f"Only the person who asked may override this block: {key} has self_approval = true and no approvers."
    return (
        f"Overrides need an approver, and none is configured: set approvers (or approver_roles) in {key}"
        " in config.toml, or self_approval = true there for a solo set-up."
    )
