"""What every chat platform's section of config.toml has in common: who may use the bot, how fast it may
post, and the one question the service asks before starting it (``off_reason``).

Each platform's package subclasses ``PlatformSettings`` with its own keys and names the class in its
platform spec; ``bots.config`` builds the service's settings from the registered specs.
"""

from __future__ import annotations

import os
import re
import typing
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator

# A secret written as a reference to an environment variable (``bot_token = "${SLACK_BOT_TOKEN}"``): the file then
# holds no credential (``openkoi init`` writes this form when asked to).
REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Section(BaseModel):
    # A misspelt key in config.toml must be an error, not silently ignored.
    model_config = ConfigDict(extra="forbid")


class Access(Section):
    """Who may use the bot on one platform. Empty lists mean "no restriction" for /think.

    Overrides are four-eyes: only ``approvers`` (or holders of ``approver_roles``) may override a
    block, and never on their own task. ``self_approval = true`` lets the person who asked decide
    on their own task too, for a solo set-up; with no approvers and no self-approval, nobody can
    override (a block can still be cancelled)."""

    allowed_users: list[str] = Field(default_factory=list)
    allowed_channels: list[str] = Field(default_factory=list)
    allowed_roles: list[str] = Field(default_factory=list)
    approvers: list[str] = Field(default_factory=list)
    approver_roles: list[str] = Field(default_factory=list)
    self_approval: bool = False

    @property
    def open_to_everyone(self) -> bool:
        return not (self.allowed_users or self.allowed_channels or self.allowed_roles)


class Pace(Section):
    """At most ``messages`` sends (new messages and edits) into one chat in any ``seconds``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    messages: int = Field(ge=1)
    seconds: float = Field(gt=0)


class PlatformSettings(Section):
    """One platform's section: its bot token (the platform is configured when it is set), how often a
    task's status line may be edited, and its ``access`` rules."""

    # Whether ``access`` governs anything: False for a surface that takes no /think (the web page, whose people
    # are the API's tokens), so the service does not warn about rules it never applies.
    has_access_rules: ClassVar[bool] = True

    bot_token: SecretStr | None = None
    edit_interval: float = Field(1.0, ge=0)
    access: Access = Field(default_factory=Access)

    @field_validator("*", mode="before")
    @classmethod
    def _resolve_reference(cls, value: Any, info: ValidationInfo) -> Any:
        """A secret that is exactly ``${NAME}`` is the variable's value, read now; an unset (or empty) variable
        leaves the secret unset, so ``off_reason`` names what is missing."""
        field = cls.model_fields.get(info.field_name or "")
        if (
            field is None
            or not isinstance(value, str)
            or SecretStr not in (field.annotation, *typing.get_args(field.annotation))
        ):
            return value
        named = REFERENCE.fullmatch(value.strip())
        if named is None:
            return value
        return os.environ.get(named.group(1)) or None

    def configured_with(self, service: BaseModel) -> None:
        """Called once the whole service configuration is validated (``service``: the ``ServiceSettings``), for
        a platform whose state depends on another section (the web page is off while the API has no token).
        Most platforms need nothing."""

    def off_reason(self) -> str | None:
        """Why the service must leave the platform off (a credential missing, a mode that needs one), or
        None when it can start."""
        raise NotImplementedError(f"{type(self).__name__} must say when its platform is off")
