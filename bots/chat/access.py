"""Who may `/think` and who may override a block, from each platform's `access` settings."""

from __future__ import annotations

from dataclasses import dataclass

from bots.chat.platform import Actor
from bots.config import Access


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
        """Approvers (by user or role) may decide; with none configured, only the requester may."""
        r = self.rules
        if not (r.approvers or r.approver_roles):
            return actor.user_id == requester_id
        return actor.user_id in r.approvers or bool(actor.roles & set(r.approver_roles))
