"""``openkoi api token create NAME --scopes …`` (and ``list``, ``revoke``): API tokens in config.toml.

``create`` prints the new token once, on stdout alone (so ``TOKEN=$(openkoi api token create ci …)`` works),
and writes only its hash; the note of where it went is on stderr. A running ``openkoi serve`` reads tokens at
start: restart it for a change to count.
"""

from __future__ import annotations

import sys

import click

from bots.api.settings import DEFAULT_TOKEN_NAME, SCOPES, TOKEN_NAME, ApiScope


def _scopes(value: tuple[str, ...]) -> list[ApiScope]:
    chosen: list[ApiScope] = []
    for item in (part.strip() for text in value for part in text.split(",")):
        if not item:
            continue
        scope = next((s for s in SCOPES if s == item), None)
        if scope is None:
            raise click.BadParameter(f"{item!r} is not a scope; choose from {', '.join(SCOPES)}", param_hint="--scopes")
        if scope not in chosen:
            chosen.append(scope)
    if not chosen:
        raise click.BadParameter("name at least one scope", param_hint="--scopes")
    return chosen


def command_group(group_cls: type[click.Group]) -> click.Group:
    """The ``api`` group, built with the CLI's group class."""

    @click.group("api", cls=group_cls)
    def api() -> None:
        """The HTTP API of openkoi serve: its tokens (create, list, revoke)."""

    @api.group("token", cls=group_cls)
    def token() -> None:
        """API tokens: create (prints it once), list, revoke."""

    @token.command("create")
    @click.argument("name")
    @click.option(
        "--scopes",
        multiple=True,
        required=True,
        help=f"Comma-separated, or repeated: {', '.join(SCOPES)}.",
    )
    @click.option("--replace", is_flag=True, help="Replace a token of the same name.")
    def create(name: str, scopes: tuple[str, ...], replace: bool) -> None:
        """Create token NAME with --scopes; print it once and write its hash to config.toml."""
        from bots.api.token_file import add_token
        from bots.api.tokens import new_token, token_hash
        from core.config import resolve_paths
        from core.errors import ConfigError

        if not TOKEN_NAME.match(name) or name == DEFAULT_TOKEN_NAME:
            raise click.BadParameter(
                f"letters, digits, '.', '_' or '-' (at most 64), and not {DEFAULT_TOKEN_NAME!r}", param_hint="NAME"
            )
        chosen = _scopes(scopes)
        path, _ = resolve_paths()
        value = new_token()
        try:
            add_token(path, name, token_hash(value), chosen, replace=replace)
        except ConfigError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        click.echo(value)
        click.echo(
            f"token {name} ({', '.join(chosen)}): its hash is in {path} (0600). This is the only time it is shown."
            " Restart openkoi serve for it to count.",
            err=True,
        )

    @token.command("list")
    def listed() -> None:
        """The configured tokens: name and scopes (never a value)."""
        from bots.config import load_service_settings

        api_settings = load_service_settings().api
        if api_settings.token is not None:
            click.echo(f"{DEFAULT_TOKEN_NAME}\t{', '.join(SCOPES)}\t([api] token or OPENKOI_API_TOKEN)")
        for name, entry in api_settings.tokens.items():
            click.echo(f"{name}\t{', '.join(entry.scopes)}")
        if not api_settings.configured:
            click.echo("no API token: the API is off. Create one with: openkoi api token create NAME --scopes …")

    @token.command("revoke")
    @click.argument("name")
    def revoke(name: str) -> None:
        """Remove token NAME from config.toml (restart openkoi serve for it to count)."""
        from bots.api.token_file import remove_token
        from core.config import resolve_paths

        path, _ = resolve_paths()
        if not remove_token(path, name):
            click.echo(f"error: {path} has no token named {name!r}", err=True)
            sys.exit(2)
        click.echo(f"token {name} removed from {path}; restart openkoi serve for it to count")

    return api
