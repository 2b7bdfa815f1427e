"""The bodies of the decision routes: a pending action as the API lists it, and what a decision did."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator


class DecisionResult(BaseModel):
    """A decision taken: on an override request (``approved`` / ``denied``) or an action (``allowed_once``,
    ``allowed_always``, ``denied``)."""

    id: str = Field(description="The override request's or the action approval's id.")
    task_id: str | None
    status: str
    decided_by: str | None
    message: str


class ActionView(BaseModel):
    """A tool call the gate will not run without a person's Allow once / Allow always / Deny."""

    id: str
    task_id: str | None
    tool: str
    preview: str = Field(description="The arguments, redacted and shortened.")
    reason: str = Field(description="Why the agent wants it, in its words.")
    effect: str = Field(description="read, write or destructive")
    domain: str
    rules: list[str] = Field(description="The rule floor's rules that matched.")
    requested_by: str | None
    requested_at: datetime
    expires_at: datetime
    status: str
    decided_by: str | None
    links: dict[str, str]


class ActionList(BaseModel):
    actions: list[ActionView]


class ActionsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pending: bool = Field(True, description="Pending approvals (the only ones listed); `?pending` alone works.")

    @field_validator("pending", mode="before")
    @classmethod
    def _flag(cls, value: object) -> object:
        return True if value == "" else value

    @field_validator("pending")
    @classmethod
    def _only_pending(cls, value: bool) -> bool:
        if not value:
            raise ValueError("only pending approvals are listed; a decided one is in GET /api/v1/audit")
        return value
