"""``openkoi slack …``: the Slack platform's own commands, added to ``openkoi`` through its platform spec."""

from __future__ import annotations

import click


@click.group(name="slack")
def command_group() -> None:
    """Slack: the app manifest to create the app from."""


@command_group.command("manifest")
@click.option(
    "--host",
    required=True,
    metavar="URL",
    help="The public https address of openkoi serve, e.g. https://openkoi.acme.dev (Slack calls /slack/events on it).",
)
def manifest(host: str) -> None:
    """Print the Slack app manifest with HOST as its request URLs: paste it at api.slack.com/apps."""
    from bots.slack.manifest import render
    from core.errors import ConfigError

    try:
        click.echo(render(host), nl=False)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--host") from exc
