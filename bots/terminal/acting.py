"""Acting at the terminal: the team's runbooks and MCP servers as the task's tools, and a person at this
terminal as the one who allows or denies a call the gate will not run alone.

``--yes`` answers for a *write*; a destructive call is answered only by a person typing at a terminal
(without one, it is denied), as a block where the rule floor matched is.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import click

from core.acting.action import ActionTool, Effect
from core.config import Settings
from core.gate.action_gate import ActionGate, ActionReview, ApprovalRefused, Choice
from core.loop.acting import Approver
from integrations.mcp.hub import McpHub
from integrations.runbooks.runbook import Runbooks


@asynccontextmanager
async def action_tools(settings: Settings) -> AsyncIterator[list[ActionTool]]:
    """The runbooks and the MCP servers' tools for one task; servers start now and stop at the end. A server
    that cannot start is said on stderr, in one line, and contributes no tools."""
    runbooks: list[ActionTool] = list(Runbooks(settings.runbooks).tools())
    if not settings.mcp_servers:
        yield runbooks
        return
    async with McpHub.from_settings(settings) as hub:
        served: list[ActionTool] = list(await hub.tools())
        for name, failure in hub.failures.items():
            click.echo(f"warning: MCP server {name} is not available: {failure.detail}", err=True)
        yield [*runbooks, *served]


def card(review: ActionReview) -> str:
    """What a person reads before deciding: what will run, why the agent wants it, its class and rule."""
    approval = review.approval
    assert approval is not None
    rules = f" · floor: {', '.join(approval.rules)}" if approval.rules else ""
    lines = [
        f"Action needs a person: {approval.tool}",
        f"  arguments: {approval.preview}",
        f"  class: {approval.effect} ({approval.source}) · domain {approval.domain} · trust {approval.level}{rules}",
        *(f"  why asked: {reason}" for reason in review.reasons),
    ]
    if approval.reason:
        lines.append(f"  the agent says: {approval.reason}")
    return "\n".join(lines)


def terminal_approver(gate: ActionGate, yes: bool) -> Approver:
    async def approve(review: ActionReview) -> None:
        approval = review.approval
        assert approval is not None
        click.echo(card(review), err=True)
        choice: Choice
        if yes and approval.effect is not Effect.DESTRUCTIVE:
            choice = "once"
        elif not sys.stdin.isatty():
            why = "a destructive action is allowed only by a person at a terminal" if yes else "no terminal to ask on"
            click.echo(f"  denied: {why}", err=True)
            choice = "deny"
        else:
            answer = click.prompt(
                "Allow once, always (this tool in this domain), or deny?",
                type=click.Choice(["once", "always", "deny"]),
                default="deny",
                err=True,
            )
            choice = "always" if answer == "always" else "once" if answer == "once" else "deny"
        try:
            await gate.decide(approval.id, review.fingerprint, choice, getpass.getuser())
        except ApprovalRefused as exc:  # expired while the question was open: the guard reads it as denied
            click.echo(f"  {exc}", err=True)

    return approve
