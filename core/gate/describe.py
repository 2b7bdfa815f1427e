"""How trust levels and audit rows read to a person: the words the terminal and chat share."""

from __future__ import annotations

from datetime import datetime

from core.gate.trust import Grant, LevelInForce, describe_duration
from core.store.gate_audit import AuditEntry


def at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def describe_grant(grant: Grant, now: datetime) -> str:
    """Who set a level, where, when, until when and why: ``granted by alice via terminal on …``."""
    verb = "granted" if grant.kind == "grant" else "revoked"
    text = f"{verb} by {grant.granted_by} via {grant.source} on {at(grant.created_at)}"
    if grant.approved_by:
        text += f", confirmed by {grant.approved_by}"
    if grant.expires_at is not None:
        text += f", until {at(grant.expires_at)} ({describe_duration(grant.expires_at - now)} left)"
    if grant.reason:
        text += f': "{grant.reason}"'
    return text


def describe_level(found: LevelInForce, now: datetime) -> str:
    """One domain's level and where it came from, on one line."""
    line = f"{found.domain:<16}{found.level.value:<12}"
    return line + ("(default)" if found.grant is None else describe_grant(found.grant, now))


def describe_entry(entry: AuditEntry) -> list[str]:
    """An audit row: a headline (when, what, outcome, level, domains), then its rules, votes and category."""
    when = entry.at.strftime("%Y-%m-%d %H:%M:%S")
    domains = ", ".join(entry.domains)
    if entry.kind in ("grant", "revoke"):
        outcome = "" if entry.outcome in ("granted", "revoked") else f" {entry.outcome}"
        by = f" by {entry.decided_by}" if entry.decided_by else ""
        head = f"{when}  {entry.kind:<6} {domains} → {entry.level}{outcome}{by}"
        return [head + (f" ({entry.note})" if entry.note else "")]
    task = f"{entry.kind} {entry.task_id[:8] if entry.task_id else '-'}"
    outcome = entry.outcome + (f" ({entry.block})" if entry.block else "")
    outcome += f" by {entry.decided_by}" if entry.decided_by else ""
    parts = [outcome]
    if entry.level:
        parts.append(f"trust {entry.level}")
    if domains:
        parts.append(domains)
    if entry.simulated:
        parts.append("simulated: nothing ran")
    lines = [f"{when}  {task}  " + " · ".join(parts)]
    if entry.action is not None:
        lines.append("    " + describe_action(entry))
    if entry.rules:
        lines.append("    rules: " + ", ".join(r.rule for r in entry.rules))
    if entry.votes:
        invalid = {b.agency for b in entry.invalid}
        votes = [f"{v.agency} {v.vote}" + (" (did not count)" if v.agency in invalid else "") for v in entry.votes]
        lines.append("    votes: " + ", ".join(votes))
    lines += [f"    {b.agency}'s ballot did not count: {b.why}" for b in entry.invalid]
    if entry.category:
        lines.append(
            f"    category: {entry.category}" + (f" ({entry.category_domain})" if entry.category_domain else "")
        )
    return lines


def describe_action(entry: AuditEntry) -> str:
    """What an action row is about: ``mcp__git__git_reset (destructive, by hints) {"repo_path": …} #3f2a9c1e``,
    then its rule, grant, approval and duration when it has them."""
    a = entry.action
    if a is None:
        return ""
    parts = [f"{a.tool} ({a.effect}, by {a.source}) {a.preview} #{a.fingerprint[:8]}"]
    parts += [f"rule {a.rule}"] if a.rule else []
    parts += [f"grant {a.grant[:8]}"] if a.grant else []
    parts += [f"approval {a.approval[:8]}"] if a.approval else []
    parts += [f"{a.duration_ms:.0f} ms"] if a.duration_ms is not None else []
    return " · ".join(parts)
