"""The bodies of the read-only views: health, status, cost, skill proposals, digests, the gate's audit."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Health(BaseModel):
    status: Literal["ok"]


class StatusView(BaseModel):
    ready: bool
    model: str = Field(description="The model tasks use, or why there is none.")
    platforms: dict[str, bool] = Field(description="Each chat platform that is on, and whether it is connected.")
    draining: bool
    schedule: str
    tasks: dict[str, int] = Field(description="Tasks by status.")
    queued: int
    workers: int
    workers_busy: int


class UsageView(BaseModel):
    calls: int
    tokens: int
    cost_usd: float
    unpriced: int = Field(description="Calls whose model has no known price (not in cost_usd).")


class UsageGroupView(BaseModel):
    key: str
    calls: int
    tokens: int
    cost_usd: float


class CostReport(BaseModel):
    today: UsageView = Field(description="The last 24 hours.")
    week: UsageView = Field(description="The last 7 days.")
    total: UsageView
    by_model: list[UsageGroupView] = Field(description="The last 7 days, costliest first.")
    by_phase: list[UsageGroupView] = Field(description="The last 7 days, costliest first.")


class ProposalView(BaseModel):
    id: str
    name: str
    kind: str
    description: str
    skill_md: str
    support: int
    confidence: float
    evidence: list[str]
    status: str
    decided_by: str | None
    decided_at: str | None
    created_at: str


class ProposalList(BaseModel):
    proposals: list[ProposalView]


class ProposalsQuery(_Query):
    status: Literal["pending", "approved", "dismissed"] | None = Field("pending", description="Default: pending.")


class ProposalDecided(BaseModel):
    id: str
    name: str = Field(description="The name the skill was installed under (approved), or its name.")
    status: str
    decided_by: str | None
    message: str


class SectionView(BaseModel):
    title: str
    lines: list[str]


class DigestView(BaseModel):
    kind: Literal["daily", "weekly"]
    period_start: datetime
    period_end: datetime
    headline: str
    sparklines: dict[str, str]
    sections: list[SectionView]
    empty: bool


class AuditQuery(_Query):
    domain: str | None = Field(None, max_length=200, description="Only rows about this domain.")
    since: datetime | None = Field(None, description="Only rows from this time on (ISO 8601).")
    limit: int = Field(50, ge=1, le=500)


class AuditRow(BaseModel):
    id: str
    at: datetime
    kind: str = Field(description="task, action, grant or revoke")
    outcome: str
    task_id: str | None
    domains: list[str]
    rules: list[str] = Field(description="The rule floor's rules that matched.")
    votes: dict[str, str]
    level: str | None
    block: str | None
    decided_by: str | None
    category: str | None
    note: str | None
    tool: str | None = Field(description="For an action: the tool.")
    preview: str | None = Field(description="For an action: its arguments, redacted and shortened.")


class AuditPage(BaseModel):
    entries: list[AuditRow] = Field(description="Oldest first.")
