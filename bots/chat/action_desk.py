"""The presses on an action's approval card: Allow once / Allow always / Deny under a tool call the gate would
not run without a person.

The same rules as an override (``bots.chat.access``): allowing is for approvers, never the person who asked
the task unless ``self_approval = true`` (four eyes); denying only adds caution, so the person who asked may
deny too. A decision goes through ``ActionGate.decide``, which takes it once, only for the exact call the card
shows, never after its expiry; the task waiting on the approval reads it from the database (so a press after a
restart counts), and the card is edited to say who decided (the publisher does that on ``ActionDecided``).

An approval lives only as long as the task that waits on it: once the task is no longer running (it was
cancelled, or interrupted by a restart, which fails the tasks a previous process left running), a press is
refused and the sweep denies the approval in the task's name, so its card never offers a run that cannot
happen.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from bots.chat.access import AccessPolicy
from bots.chat.platform import Actor, ButtonAction, Reply
from bots.chat.presses import NO_LONGER_VALID
from core.engine import Engine
from core.errors import NotFound
from core.events import ActionDecided
from core.gate.action_gate import ActionGate, ApprovalRefused, Choice
from core.models import TaskStatus
from core.store.actions import ActionApproval

log = logging.getLogger(__name__)

CHOICES: dict[ButtonAction, Choice] = {"act_once": "once", "act_always": "always", "act_deny": "deny"}
TASK_ENDED = "openkoi (the task was no longer running)"
DECIDED = {"allowed_once": "allowed once", "allowed_always": "allowed always", "denied": "denied", "expired": "expired"}


@dataclass
class ActionDesk:
    engine: Engine
    policies: Mapping[str, AccessPolicy]
    gate: ActionGate = field(init=False)

    def __post_init__(self) -> None:
        self.gate = ActionGate(self.engine.gatekeeper, self.engine.settings.tools)

    async def press(self, actor: Actor, action: ButtonAction, approval_id: str) -> Reply:
        """Decide the approval ``approval_id`` as ``action`` says. Refusals are private and change nothing."""
        choice = CHOICES.get(action)
        store = self.engine.store
        approval = await store.actions.find(approval_id)
        conversation = await store.conversations.get(approval.task_id) if approval and approval.task_id else None
        if choice is None or approval is None or conversation is None or actor.platform != conversation.platform:
            return Reply(NO_LONGER_VALID, private=True)
        if not approval.pending:
            by = f" by {approval.decided_by}" if approval.decided_by else ""
            return Reply(f"This action was already {DECIDED.get(approval.status, approval.status)}{by}.", private=True)
        if approval.has_expired():
            await self.sweep()
            return Reply("This action's approval has expired; it did not run.", private=True)
        if not await self._waited_on(approval):
            await self.sweep()
            return Reply("This task is no longer running, so the action will not run.", private=True)
        policy = self.policies.get(conversation.platform)
        requester = conversation.requester_id
        allowed = policy is not None and (
            policy.may_approve(actor, requester) if choice != "deny" else policy.may_cancel(actor, requester)
        )
        if policy is None or not allowed:
            log.info("refused %s deciding action approval %s", actor.label, approval_id)
            own = actor.user_id == requester
            return Reply(refusal(policy, conversation.platform, own, choice != "deny"), private=True)
        try:
            decided = await self.gate.decide(approval.id, approval.fingerprint, choice, actor.label)
        except ApprovalRefused as exc:
            if exc.why == "expired":
                return Reply("This action's approval has expired; it did not run.", private=True)
            return Reply("Someone else decided this action first.", private=True)
        log.info("%s %s action approval %s (%s)", actor.label, decided.status, decided.id, decided.tool)
        return Reply(answer(decided, actor.name), task_id=decided.task_id)

    async def sweep(self) -> int:
        """Expire every pending approval past its deadline, and deny those whose task is no longer running; say
        so on each card. A task waiting on one (if this process runs it) reads it as a denial, tells the model."""
        ended = await self.gate.expire_due()
        for approval in await self.gate.pending():
            if not await self._waited_on(approval):
                try:
                    ended.append(await self.gate.decide(approval.id, approval.fingerprint, "deny", TASK_ENDED))
                except ApprovalRefused:  # decided meanwhile, by a person or another sweep
                    continue
        for approval in ended:
            if approval.task_id is not None:
                event = ActionDecided(
                    approval.task_id, approval.id, approval.tool, approval.status, approval.decided_by
                )
                await self.engine.bus.publish(event)
        return len(ended)

    async def _waited_on(self, approval: ActionApproval) -> bool:
        """True while the approval's task is running (so something waits for the answer)."""
        if approval.task_id is None:
            return True  # asked outside a task (an API call): nothing ends it but its expiry
        try:
            task = await self.engine.store.tasks.get(approval.task_id)
        except NotFound:
            return False
        return task.status is TaskStatus.RUNNING


def answer(approval: ActionApproval, name: str) -> str:
    if approval.status == "denied":
        return f"Denied by {name}: {approval.tool} will not run."
    if approval.status == "allowed_always":
        return f"Allowed by {name}, and from now on for {approval.tool} in {approval.domain}; it runs now."
    return f"Allowed once by {name}: {approval.tool} runs now."


def refusal(policy: AccessPolicy | None, platform: str, own_task: bool, allow: bool) -> str:
    """Why a press on an approval card was refused, naming the setting that would allow it."""
    key = f"[{platform}.access]"
    if not allow:
        return "Sorry, only the person who asked or an approver may deny this action."
    if policy is not None and policy.has_approvers:
        if own_task:
            return (
                f"Four eyes: someone else must allow an action of your own task (one of the approvers in {key}),"
                " unless self_approval = true is set there."
            )
        return f"Sorry, only the approvers configured in {key} may allow an action."
    return (
        f"Actions that need a person need an approver, and none is configured: set approvers (or approver_roles)"
        f" in {key} in config.toml, or self_approval = true there for a solo set-up."
    )
