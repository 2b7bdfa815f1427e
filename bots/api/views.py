"""The read-only views (health, status, cost, digests, the gate's audit) and the skill proposals' decisions."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from aiohttp import web

from bots.api.context import ApiContext
from bots.api.http import read_query, reply, view_of
from bots.api.problems import ApiError
from bots.api.routes import Call
from bots.api.view_models import (
    AuditPage,
    AuditQuery,
    AuditRow,
    CostReport,
    DigestView,
    Health,
    ProposalDecided,
    ProposalList,
    ProposalsQuery,
    ProposalView,
    SectionView,
    StatusView,
    UsageGroupView,
    UsageView,
)
from core.errors import ConfigError
from core.models import utcnow
from core.reflection.digest import digest_of
from core.reflection.period import period_containing
from core.reflection.proposals import decide_proposal
from core.store.gate_audit import AuditEntry
from core.store.proposals import Proposal
from core.store.usage import UsageTotals

DIGEST_SPANS: dict[str, Literal["daily", "weekly"]] = {"today": "daily", "week": "weekly"}


async def health(call: Call) -> web.StreamResponse:
    return reply(Health(status="ok"))


async def status(call: Call) -> web.StreamResponse:
    if call.api.service_status is None:
        raise ApiError(503, "the service has not said how it is yet", kind="unavailable", headers={"Retry-After": "1"})
    return reply(StatusView.model_validate(await call.api.service_status()))


async def cost(call: Call) -> web.StreamResponse:
    usage = call.api.store.usage
    week = timedelta(days=7)
    return reply(
        CostReport(
            today=_usage(await usage.totals(timedelta(days=1))),
            week=_usage(await usage.totals(week)),
            total=_usage(await usage.totals()),
            by_model=[UsageGroupView(**g.__dict__) for g in await usage.breakdown("model", week)],
            by_phase=[UsageGroupView(**g.__dict__) for g in await usage.breakdown("phase", week)],
        )
    )


def _usage(t: UsageTotals) -> UsageView:
    return view_of(UsageView, t)


async def proposals(call: Call) -> web.StreamResponse:
    query = read_query(call.request, ProposalsQuery)
    listed = await call.api.store.proposals.listed(query.status)
    return reply(ProposalList(proposals=[proposal_view(p) for p in listed]))


async def approve_proposal(call: Call) -> web.StreamResponse:
    return await _decide_proposal(call, "approved")


async def dismiss_proposal(call: Call) -> web.StreamResponse:
    return await _decide_proposal(call, "dismissed")


async def _decide_proposal(call: Call, decision: Literal["approved", "dismissed"]) -> web.StreamResponse:
    """The same decision `openkoi learn approve|dismiss` and a digest's buttons make: once, and an approval
    installs the skill (under a free name when its own is taken)."""
    api = call.api
    proposal_id = call.request.match_info["id"]
    found = await api.store.proposals.get(proposal_id)
    if found is None:
        raise ApiError(404, f"no skill proposal with id {proposal_id!r}", kind="not-found")
    if found.status != "pending":  # as the digest's buttons answer, before the skill is looked at
        by = f" by {found.decided_by}" if found.decided_by else ""
        raise ApiError(409, f"skill proposal {found.name} was already {found.status}{by}", kind="not-pending")
    if api.skills_home is None:
        raise ApiError(503, "this service has no skills home to install into", kind="unavailable")
    try:
        outcome = await decide_proposal(
            api.store.db, api.skills_home, proposal_id, decision, call.caller.label, workspace=api.engine.workspace
        )
    except LookupError:
        raise ApiError(404, f"no skill proposal with id {proposal_id!r}", kind="not-found") from None
    except (ConfigError, OSError) as exc:
        raise ApiError(422, f"not approved: the skill could not be installed ({exc})", kind="invalid") from None
    decided = outcome.proposal
    if not outcome.won:
        by = f" by {decided.decided_by}" if decided.decided_by else ""
        raise ApiError(409, f"skill proposal {decided.name} was already {decided.status}{by}", kind="not-pending")
    placed = outcome.installation
    name = decided.name
    message = f"{decision} by {call.caller.label}"
    if placed is not None:
        message = f"approved by {call.caller.label}: the skill {placed.describe()} is installed"
    return reply(
        ProposalDecided(id=decided.id, name=name, status=decided.status, decided_by=decided.decided_by, message=message)
    )


def proposal_view(p: Proposal) -> ProposalView:
    """A stored skill proposal as the API (and the web page) shows it."""
    return view_of(ProposalView, p)


async def digest(call: Call) -> web.StreamResponse:
    span = call.request.match_info["span"]
    kind = DIGEST_SPANS.get(span)
    if kind is None:
        raise ApiError(404, f"no digest {span!r}: ask for today or week", kind="not-found")
    return reply(await digest_view(call.api, kind))


async def digest_view(api: ApiContext, kind: Literal["daily", "weekly"]) -> DigestView:
    """The reflection digest of today (``daily``) or this week so far (``weekly``), in the service's timezone."""
    tz = ZoneInfo(api.engine.settings.schedule.timezone)
    now = utcnow()
    period = period_containing("day" if kind == "daily" else "week", now, tz)
    made = await digest_of(api.store.db, kind, period, now=now)
    return DigestView(
        kind=made.kind,
        period_start=made.period.start,
        period_end=made.period.end,
        headline=made.headline,
        sparklines=made.sparklines,
        sections=[SectionView(title=s.title, lines=list(s.lines)) for s in made.sections],
        empty=made.empty,
    )


async def audit(call: Call) -> web.StreamResponse:
    query = read_query(call.request, AuditQuery)
    entries = await call.api.store.gate_audit.entries(query.domain, query.since, query.limit)
    return reply(AuditPage(entries=[_audit_row(e) for e in entries]))


def _audit_row(e: AuditEntry) -> AuditRow:
    return view_of(
        AuditRow,
        e,
        rules=[r.rule for r in e.rules],
        votes={v.agency: v.vote for v in e.votes},
        tool=e.action.tool if e.action else None,
        preview=e.action.preview if e.action else None,
    )
