"""`openkoi task rate ID up|down [--note TEXT]`: the terminal's 👍 / 👎, the same vote as a chat button."""

from __future__ import annotations

import getpass

import click


async def task_rate(prefix: str, vote: str, note: str | None) -> None:
    from core.config import load_settings
    from core.feedback import Vote, rate
    from core.skills.effectiveness import Effectiveness
    from core.store import Store
    from core.store.skill_uses import SkillOutcomes, SkillVersion

    settings = load_settings()
    async with Store(settings.db_path) as store:
        task_id = await store.db.resolve_id("tasks", prefix)
        rating = await rate(
            store, task_id, f"terminal:{getpass.getuser()}", Vote.UP if vote == "up" else Vote.DOWN, note
        )
        tally = f"now 👍 {rating.tally.up} · 👎 {rating.tally.down}"
        if not rating.changed:
            click.echo(f"Already {rating.vote.symbol} for task {task_id[:8]} ({tally}).")
        else:
            was = f", was {rating.previous.symbol}" if rating.previous is not None else ""
            click.echo(f"{rating.vote.symbol} recorded for task {task_id[:8]}{was} ({tally}).")
        uses = await store.skill_uses.for_task(task_id)
        outcomes = await store.skill_uses.version_outcomes(u.skill for u in uses)
        for use in uses:
            # The figure of the version the task used (see `openkoi skills show` for the others).
            version = SkillVersion(use.skill, use.source if use.version is not None else "", use.version)
            figure = Effectiveness(outcomes.get(version) or SkillOutcomes(use.skill)).describe()
            click.echo(f"  skill {use.skill}: effectiveness {figure}")
