"""The ``openkoi`` command line. Heavy modules (the engine, litellm) load only inside the commands
that use them, so ``openkoi --help``, ``openkoi status`` and ``openkoi doctor`` stay fast."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Literal

import click

from bots.api.cli import command_group as api_group
from bots.chat.registry import commands as platform_commands
from bots.terminal import inspect as views
from bots.terminal.command import EXIT_CANCELLED, run
from bots.terminal.groups import DefaultToThink, SuggestingGroup
from bots.terminal.mind import command_group as mind_group
from bots.terminal.reflect import command_group as reflect_group
from bots.terminal.soul import command_group as soul_group
from bots.terminal.webhooks import command_group as webhooks_group
from bots.terminal.world import command_group as world_group


@click.group(cls=DefaultToThink, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="openkoi")
def cli() -> None:
    """openkoi — an agent that deliberates before it acts and reviews its own work.

    \b
    openkoi "task"                 same as: openkoi think "task"
    openkoi think "task" -i 5      up to five Plan-Execute-Evaluate-Refine iterations
    openkoi status --costs         models, storage and spending
    openkoi memory list            what the agent remembers (show, forget, global, reindex)
    openkoi reflect week           how the work went: today, week, honest, growth
    openkoi mind agencies          each agency's record: parliament, agencies, dissent, calibrate
    openkoi soul show              the team's values (SOUL.md) as the Sovereign reads them
    openkoi world map              what the agent knows: tools [NAME], domains, human [WHO]
    openkoi learn                  skill proposals from usage patterns (show, approve, dismiss, mine)
    openkoi trust                  trust levels per domain (grant, revoke) and the gate's audit
    openkoi schedule list          scheduled jobs: next and last runs (run JOB: now)
    openkoi webhooks list          outgoing webhooks: deliveries [--endpoint], redeliver ID, enable
    openkoi init                   set up: the model and the chat platforms, checked live, into config.toml
    openkoi doctor [--live]        check the setup: config, models, keys, rubrics, chat platforms
    openkoi api token create NAME  an HTTP API token for openkoi serve (list, revoke)
    """


@cli.command()
@click.argument("task", nargs=-1, required=True)
@click.option("--simulate", is_flag=True, help="Deliberate and simulate futures; execute nothing.")
@click.option("-v", "--verbose", is_flag=True, help="Show the full deliberation and every decision.")
@click.option("--override", is_flag=True, help="If the Guardian blocks, ask to override (a person decides).")
@click.option("-y", "--yes", is_flag=True, help="Answer yes to confirmations (override, tool-loop escalation).")
@click.option("--budget", type=click.FloatRange(min=0, min_open=True), help="Maximum cost in USD for this task.")
@click.option("-i", "--iterate", "iterations", type=click.IntRange(1, 50), help="Maximum iterations.")
@click.option("--quality", type=click.FloatRange(0, 1), help="Quality threshold (0-1) to accept the output.")
@click.option("-m", "--model", help="Model for every role, as provider/model.")
@click.option("-q", "--quiet", is_flag=True, help="Only the result on stdout; no progress on stderr.")
@click.option(
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory the agent's file tools may read (default: [tools] workspace, else the current directory).",
)
@click.option("--skill", metavar="NAME", help="Use this task skill (see: openkoi skills list), besides any chosen.")
def think(task: tuple[str, ...], **flags: Any) -> None:
    """Run a task through Sovereign → Parliament → PEER loop → learning."""
    text = " ".join(task)
    if not text.strip():
        raise click.UsageError('the task is empty: say what you want done, e.g. openkoi think "summarise the README"')

    def work() -> Coroutine[Any, Any, int]:
        from bots.terminal.run import run_think  # the engine loads here, inside _foreground's Ctrl-C care

        return run_think(text, **flags)

    sys.exit(_foreground(work))


def _foreground(work: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Run a task command. Ctrl-C while the task runs cancels it (see ``run.drive``); one that lands
    earlier (while the engine is imported, before the task exists) still exits 6 without a traceback."""
    try:
        return asyncio.run(work())
    except KeyboardInterrupt:
        click.echo("✗ Cancelled.", err=True)
        return EXIT_CANCELLED


@cli.command()
@click.option("--costs", is_flag=True, help="Spending by phase and model.")
def status(costs: bool) -> None:
    """Models, storage, tasks and spending."""
    sys.exit(run(views.status(costs)))


@cli.group(cls=SuggestingGroup)
def session() -> None:
    """Sessions: list, show, delete."""


@session.command("list")
@click.option("-n", "--limit", default=20, show_default=True)
def session_list(limit: int) -> None:
    sys.exit(run(views.session_list(limit)))


@session.command("show")
@click.argument("session_id")
def session_show(session_id: str) -> None:
    sys.exit(run(views.session_show(session_id)))


@session.command("delete")
@click.argument("session_id")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def session_delete(session_id: str, yes: bool) -> None:
    sys.exit(run(views.session_delete(session_id, yes)))


@cli.group(cls=SuggestingGroup)
def task() -> None:
    """Tasks: list, show, replay, rate; approve, deny or cancel a blocked one."""


@task.command("list")
@click.option("--session", "session_id", help="Only this session's tasks (id or prefix).")
@click.option("-n", "--limit", default=20, show_default=True)
def task_list(session_id: str | None, limit: int) -> None:
    sys.exit(run(views.task_list(session_id, limit)))


@task.command("show")
@click.argument("task_id")
def task_show(task_id: str) -> None:
    sys.exit(run(views.task_show(task_id)))


def _decision_command(action: Literal["approve", "deny", "cancel"], summary: str) -> None:
    @task.command(action, help=summary)
    @click.argument("task_id")
    @click.option("-v", "--verbose", is_flag=True, help="Show every decision (approve).")
    @click.option("-q", "--quiet", is_flag=True, help="Only the result on stdout; no progress on stderr.")
    @click.option("-y", "--yes", is_flag=True, help="Answer yes to tool-loop escalations (approve).")
    @click.option("-m", "--model", help="Model for every role, as provider/model (approve).")
    @click.option(
        "--workspace",
        type=click.Path(file_okay=False, path_type=Path),
        help="Directory the file tools may read (approve; as for think).",
    )
    def command(task_id: str, verbose: bool, quiet: bool, yes: bool, model: str | None, workspace: Path | None) -> None:
        def work() -> Coroutine[Any, Any, int]:
            from bots.terminal.decisions import run_decision

            return run_decision(
                action, task_id, verbose=verbose, quiet=quiet, yes=yes, model=model, workspace=workspace
            )

        sys.exit(_foreground(work))


_decision_command("approve", "Override a blocked task and run it here (progress and exit codes as think).")
_decision_command("deny", "Refuse the override of a blocked task; it ends as cancelled.")
_decision_command("cancel", "Cancel a blocked or queued task.")


@task.command("rate")
@click.argument("task_id")
@click.argument("vote", type=click.Choice(["up", "down"]))
@click.option("--note", help="Why, in a few words (kept with the vote).")
def task_rate(task_id: str, vote: str, note: str | None) -> None:
    """Rate a finished task's result 👍 (up) or 👎 (down); rating again changes your vote."""
    from bots.terminal.rate import task_rate as rate_view

    sys.exit(run(rate_view(task_id, vote, note)))


@task.command("replay")
@click.argument("task_id")
def task_replay(task_id: str) -> None:
    """Print a task's full output to stdout (pipeable)."""
    sys.exit(run(views.task_replay(task_id)))


@cli.group(cls=SuggestingGroup, invoke_without_command=True)
@click.pass_context
def trust(ctx: click.Context) -> None:
    """Trust levels per domain (ask, suggest, act, autonomous) and the gate's audit: show, grant, revoke, audit."""
    if ctx.invoked_subcommand is None:
        from bots.terminal.trust import trust_show

        sys.exit(run(trust_show()))


@trust.command("show")
def trust_show() -> None:
    """Every domain's trust level in force, who set it and until when."""
    from bots.terminal import trust as views_trust

    sys.exit(run(views_trust.trust_show()))


@trust.command("grant")
@click.argument("domain")
@click.argument("level")
@click.option("--for", "duration", metavar="DURATION", help="Until it lapses by itself, e.g. 30m, 12h, 7d, 2w.")
@click.option("--reason", help="Why, in a few words (kept with the grant and in the audit).")
def trust_grant(domain: str, level: str, duration: str | None, reason: str | None) -> None:
    """Set DOMAIN's trust level: ask, suggest, act or autonomous (recorded as your OS user)."""
    from bots.terminal import trust as views_trust

    sys.exit(run(views_trust.trust_grant(domain, level, duration, reason)))


@trust.command("revoke")
@click.argument("domain")
@click.option("--reason", help="Why, in a few words.")
def trust_revoke(domain: str, reason: str | None) -> None:
    """Bring DOMAIN back to ask (a floor match blocks for a person)."""
    from bots.terminal import trust as views_trust

    sys.exit(run(views_trust.trust_revoke(domain, reason)))


@trust.command("audit")
@click.argument("domain", required=False)
@click.option("--since", help="Only rows from then: a duration back (7d, 12h) or a date (2026-01-31).")
@click.option("-n", "--limit", default=50, show_default=True, help="At most this many rows (the latest).")
def trust_audit(domain: str | None, since: str | None, limit: int) -> None:
    """The gate's decisions and the trust changes, oldest first: metadata only, never a task's output."""
    from bots.terminal import trust as views_trust

    sys.exit(run(views_trust.trust_audit(domain, since, limit)))


@cli.group(cls=SuggestingGroup)
def memory() -> None:
    """Memories: list, show, forget, mark global, reindex."""


@memory.command("list")
@click.option("--kind", help="Only this kind (heuristic, anti_pattern, preference, fact, summary).")
@click.option("--scope", "scope_key", help="Only this scope, e.g. global or channel:slack:C0123.")
@click.option("-n", "--limit", default=50, show_default=True)
def memory_list(kind: str | None, scope_key: str | None, limit: int) -> None:
    """Memories, most recently used first, with their decayed confidence and scope."""
    from bots.terminal import memory as views_memory

    sys.exit(run(views_memory.memory_list(kind, scope_key, limit)))


@memory.command("show")
@click.argument("memory_id")
def memory_show(memory_id: str) -> None:
    """One memory: text, confidence as learnt and now, scope, source task, uses."""
    from bots.terminal import memory as views_memory

    sys.exit(run(views_memory.memory_show(memory_id)))


@memory.command("forget")
@click.argument("memory_id")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def memory_forget(memory_id: str, yes: bool) -> None:
    """Delete a memory and its vector."""
    from bots.terminal import memory as views_memory

    sys.exit(run(views_memory.memory_forget(memory_id, yes)))


@memory.command("global")
@click.argument("memory_id")
@click.option("--off", is_flag=True, help="Return it to the scope it was learnt in.")
def memory_global(memory_id: str, off: bool) -> None:
    """Mark a memory global: recalled in every workspace and channel."""
    from bots.terminal import memory as views_memory

    sys.exit(run(views_memory.memory_global(memory_id, off)))


@memory.command("reindex")
@click.option("--re-embed", is_flag=True, help="Embed every memory again, not only those without an embedding.")
def memory_reindex(re_embed: bool) -> None:
    """Embed the memories that need it and rebuild the vector index from the rows."""
    from bots.terminal import memory as views_memory

    sys.exit(run(views_memory.memory_reindex(re_embed)))


@cli.group(cls=SuggestingGroup)
def skills() -> None:
    """Skills: list them, or show one (source, overrides, eligibility, effectiveness)."""


_SKILLS_WORKSPACE = click.option(
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    help="The project whose .agents/skills count (default: as for think).",
)


@skills.command("list")
@_SKILLS_WORKSPACE
def skills_list(workspace: Path | None) -> None:
    """Every skill: kind, name, source, effectiveness, and what it overrides."""
    from bots.terminal.skills import skills_list as list_view

    sys.exit(run(list_view(workspace)))


@skills.command("show")
@click.argument("name")
@_SKILLS_WORKSPACE
def skills_show(name: str, workspace: Path | None) -> None:
    """One skill in full."""
    from bots.terminal.skills import skills_show as show_view

    sys.exit(run(show_view(name, workspace)))


cli.add_command(reflect_group(SuggestingGroup))
cli.add_command(soul_group(SuggestingGroup))
cli.add_command(world_group(SuggestingGroup))
cli.add_command(mind_group(SuggestingGroup))
cli.add_command(webhooks_group(SuggestingGroup))
cli.add_command(api_group(SuggestingGroup))
# Each chat platform's own commands (openkoi <platform> …), from its spec; none may replace one of openkoi's.
for _platform_group in platform_commands():
    if _platform_group.name not in cli.commands:
        cli.add_command(_platform_group)


@cli.group(cls=SuggestingGroup, invoke_without_command=True)
@click.pass_context
def learn(ctx: click.Context) -> None:
    """Skill proposals mined from usage patterns: list, show, approve, dismiss, mine."""
    if ctx.invoked_subcommand is None:
        from bots.terminal.learn import learn_list

        sys.exit(run(learn_list(False)))


@learn.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also the approved and dismissed ones.")
def learn_list(show_all: bool) -> None:
    """Pending proposals: id, name, kind, support, confidence, age."""
    from bots.terminal import learn as views_learn

    sys.exit(run(views_learn.learn_list(show_all)))


@learn.command("show")
@click.argument("proposal_id")
def learn_show(proposal_id: str) -> None:
    """One proposal: its pattern, the evidence tasks and the full SKILL.md."""
    from bots.terminal import learn as views_learn

    sys.exit(run(views_learn.learn_show(proposal_id)))


@learn.command("approve")
@click.argument("proposal_id")
def learn_approve(proposal_id: str) -> None:
    """Install the proposal as a skill (source: proposed)."""
    from bots.terminal import learn as views_learn

    sys.exit(run(views_learn.learn_decide(proposal_id, "approved")))


@learn.command("dismiss")
@click.argument("proposal_id")
def learn_dismiss(proposal_id: str) -> None:
    """Dismiss the proposal; its pattern returns only when its support doubles."""
    from bots.terminal import learn as views_learn

    sys.exit(run(views_learn.learn_decide(proposal_id, "dismissed")))


@learn.command("mine")
def learn_mine() -> None:
    """Mine the usage events for patterns now and propose skills; prints the report."""
    from bots.terminal import learn as views_learn

    sys.exit(run(views_learn.learn_mine()))


@cli.group(cls=SuggestingGroup)
def schedule() -> None:
    """Scheduled jobs (digests, pattern mining, memory maintenance): list, or run one now."""


@schedule.command("list")
def schedule_list() -> None:
    """Each job: its cron, next run, last run and outcome; and which process holds the schedule."""
    from bots.terminal.schedule import schedule_list as list_view

    sys.exit(run(list_view()))


@schedule.command("run")
@click.argument("job")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for a running service to finish it.")
def schedule_run(job: str, timeout: float) -> None:
    """Run JOB now: in openkoi serve when one holds the schedule, else here (not the digests)."""
    from bots.terminal.schedule import check_job
    from bots.terminal.schedule import schedule_run as run_view

    sys.exit(run(run_view(check_job(job), timeout)))


@cli.command()
@click.option("-m", "--model", help="The model, as provider/model (on a --server: name/model, or the model alone).")
@click.option("--server", metavar="URL", help="An OpenAI-compatible server for the model ([providers.<name>]).")
@click.option("--server-key-env", metavar="VAR", help="The variable holding the server's API key.")
@click.option("-p", "--platform", "platforms", multiple=True, help="A chat platform to set up (repeatable).")
@click.option("--secrets", type=click.Choice(["ref", "value"]), help="Secrets as ${VAR} references or as values.")
@click.option("--no-input", is_flag=True, help="Ask nothing: options, and secrets from the platforms' variables.")
@click.option("--no-check", is_flag=True, help="Do not check the answers live (no model call, no platform API).")
@click.option("--force", is_flag=True, help="Update an existing config.toml without asking.")
def init(
    model: str | None,
    server: str | None,
    server_key_env: str | None,
    platforms: tuple[str, ...],
    secrets: Literal["ref", "value"] | None,
    no_input: bool,
    no_check: bool,
    force: bool,
) -> None:
    """Set up: the model and the chat platforms, each checked live, written to config.toml (0600)."""
    from bots.terminal.init import Options, run_init

    options = Options(model, server, server_key_env, platforms or None, secrets, no_input, not no_check, force)
    sys.exit(run_init(options))


@cli.command()
@click.option("--live", is_flag=True, help="Also call each model (one token) and each chat platform's API.")
def doctor(live: bool) -> None:
    """Check the configuration, models, rubrics, data directory and chat platforms."""
    from bots.terminal.doctor import run_doctor

    sys.exit(run_doctor(live))


@cli.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1, or [serve] host).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port to listen on (default 9742, or [serve] port).")
def serve(host: str | None, port: int | None) -> None:
    """Run the chat service: Slack, Discord and Telegram, whichever are configured."""
    from bots.terminal.run import run_serve

    sys.exit(run_serve(host, port))


def main() -> None:
    cli()
