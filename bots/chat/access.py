"""Who may `/think` and who may override a block, from each platform's `access` settings."""

from __future__ import annotations

from dataclasses import dataclass

from bots.chat.platform import Actor
from bots.chat.settings import Access


@dataclass(frozen=True)
class AccessPolicy:
    rules: Access

    def may_think(self, actor: Actor, channel_id: str) -> bool:
        """True when no list restricts /think, or the person, their channel or one of their roles is listed.

        Users, channels and roles widen access together: listing a channel lets everyone there ask.
        """
        r = self.rules
        if not (r.allowed_users or r.allowed_channels or r.allowed_roles):
            return True
        return (
            actor.user_id in r.allowed_users
            or channel_id in r.allowed_channels
            or bool(actor.roles & set(r.allowed_roles))
        )

    def may_approve(self, actor: Actor, requester_id: str) -> bool:
        """May ``actor`` override a block on a task ``requester_id`` asked for?

        Four-eyes: an approver (by user or role) may, on someone else's task; the person who asked
        may only with ``self_approval``. With no approvers and no self-approval, nobody may.
        """
        if actor.user_id == requester_id:
            return self.rules.self_approval
        return self.is_approver(actor)

    def may_cancel(self, actor: Actor, requester_id: str) -> bool:
        """Stopping is always safe: the person who asked, or any approver, may cancel."""
        return actor.user_id == requester_id or self.is_approver(actor)

    def is_approver(self, actor: Actor) -> bool:
        r = self.rules
        return actor.user_id in r.approvers or bool(actor.roles & set(r.approver_roles))

    @property
    def has_approvers(self) -> bool:
        return bool(self.rules.approvers or self.rules.approver_roles)
