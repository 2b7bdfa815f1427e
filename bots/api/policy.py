"""The access rules of API tasks, as the chat desks read them: an ``AccessPolicy`` for the ``api`` platform.

Its approvers are the tokens with the ``approve`` (or ``admin``) scope, and four eyes hold as in chat: the token
that asked a task may not approve its block or its actions unless ``[api] self_approval = true``. The desks
(``ConfirmationDesk``, ``ActionDesk``) apply it exactly as they apply a platform's ``[<platform>.access]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bots.api.settings import ApiSettings
from bots.api.tokens import PLATFORM, TokenSet
from bots.chat.access import AccessPolicy
from bots.chat.settings import Access

if TYPE_CHECKING:
    from bots.api.context import ApiContext


def policy_for(settings: ApiSettings, tokens: TokenSet) -> AccessPolicy:
    return AccessPolicy(Access(approvers=tokens.names_with("approve"), self_approval=settings.self_approval))


def api_policy(api: ApiContext) -> AccessPolicy:
    """The policy the desks hold for the ``api`` platform."""
    return api.desk.policies[PLATFORM]
