"""``openkoi init``: the model and the chat platforms a team wants, each answer checked live, written to config.toml.

Every answer can come from an option (``--no-input`` asks nothing: scripts and tests), or is asked for; secrets
are asked with hidden input and never printed. A check that fails says what failed; the person retries it,
changes the answer, or keeps it anyway. The file is updated with tomlkit (whatever else it holds, comments too,
is kept), written atomically as 0600, and an existing one only with the person's yes (or ``--force``). Secrets go
in as ``${VAR}`` references (the default: the file then holds no credential) or as values.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import click

from bots.terminal import command as codes
from bots.terminal.init_file import ModelAnswer, PlatformAnswer, Secret, write_config
from core.errors import ConfigError

if TYPE_CHECKING:
    from bots.chat.spec import PlatformSpec
    from bots.terminal.doctor import Check


class _Choice(click.Choice[str]):
    """A choice whose refusal does not repeat what was typed: a secret pasted at the wrong prompt stays unseen
    (click's own message quotes the answer)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            self.fail("answer one of: " + ", ".join(str(choice) for choice in self.choices), param, ctx)


SecretsForm = Literal["ref", "value"]


@dataclass
class Options:
    """What the command line said; ``None`` where the person is to be asked."""

    model: str | None
    server: str | None
    server_key_env: str | None
    platforms: tuple[str, ...] | None
    secrets: SecretsForm | None
    no_input: bool
    check: bool
    force: bool


@dataclass
class Session:
    """One run: how it asks, and the secret values it was given (redacted from whatever it prints)."""

    options: Options
    given: list[str] = field(default_factory=list)

    @property
    def asking(self) -> bool:
        return not self.options.no_input

    def say(self, line: str) -> None:
        from core.secrets import REDACTED

        for value in self.given:
            line = line.replace(value, REDACTED)
        click.echo(line)

    def secret(self, prompt: str, variable: str, required: bool) -> Secret | None:
        """A secret: asked hidden (empty: the variable's value, when set), or with ``--no-input`` the variable's."""
        import os

        present = os.environ.get(variable, "")
        if self.asking:
            hint = f"empty: ${variable}" if present else ("required" if required else "empty: none")
            while True:
                typed = click.prompt(f"{prompt} ({hint})", default="", show_default=False, hide_input=True)
                value = typed.strip() or present
                if value or not required:
                    break
                click.echo(f"  {prompt} is needed (or set {variable} and leave it empty)")
        else:
            value = present
            if not value and required:
                raise click.UsageError(f"--no-input: {variable} is not set ({prompt})")
        if not value:
            return None
        self.given.append(value)
        return Secret(variable, value)

    def settle(self, what: str, check: Callable[[], Check]) -> Literal["ok", "change", "keep"]:
        """Run ``check`` until it passes, or the person keeps or changes the answer (``--no-input``: a failure
        is an error)."""
        if not self.options.check:
            return "ok"
        while True:
            found = check()
            self.say(found.line())
            if found.level != "fail":
                return "ok"
            if not self.asking:
                raise click.ClickException(f"{what}: the check failed (see above); nothing was written")
            choice = click.prompt(
                f"  {what}: retry the check, change the answer, or keep it anyway?",
                type=_Choice(["retry", "change", "keep"]),
                default="retry",
            )
            if choice != "retry":
                return "keep" if choice == "keep" else "change"


def run_init(options: Options) -> int:
    """The whole conversation; the exit code."""
    from core.config import resolve_paths

    config_path, _ = resolve_paths()
    session = Session(options)
    if config_path.exists() and not options.force:
        if not session.asking:
            raise click.UsageError(f"{config_path} exists: pass --force to update it (its other settings are kept)")
        if not click.confirm(f"{config_path} exists. Update it with your answers (its other settings are kept)?"):
            click.echo("Nothing written.")
            return codes.EXIT_CANCELLED
    model = _ask_model(session)
    platforms = [_ask_platform(session, spec) for spec in _chosen_platforms(session)]
    secrets = _secrets_form(session, model, platforms)
    try:
        write_config(config_path, model, platforms, secrets)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    session.say(f"Wrote {config_path} (owner-only, 0600).")
    if secrets == "ref":
        needed = sorted({s.variable for s in _all_secrets(model, platforms)})
        if needed:
            session.say(f"The file names these variables, set them where openkoi runs: {', '.join(needed)}")
    session.say("Next: openkoi doctor --live checks the whole setup.")
    return codes.EXIT_DONE


# ------------------------------------------------------------------------------------------------ the model


def _ask_model(session: Session) -> ModelAnswer:
    options = session.options
    name, server, key_env = options.model, options.server, options.server_key_env
    while True:
        if name is None:
            if not session.asking:
                raise click.UsageError("--no-input: --model is required")
            name = click.prompt("Model, as provider/model (e.g. anthropic/claude-sonnet-4-5)", default=_default_model())
            server = click.prompt(
                "The URL of an OpenAI-compatible server for it (empty: the provider's own API)",
                default="",
                show_default=False,
            ).strip()
        try:
            answer = _model_answer(session, name.strip(), server or None, key_env)
        except click.UsageError as exc:
            if not session.asking:
                raise
            click.echo(f"  {exc.message}")
            name = None
            continue
        outcome = session.settle("the model", functools.partial(_check_model, answer))
        if outcome != "change":
            return answer
        name, server, key_env = None, None, None


def _model_answer(session: Session, name: str, server: str | None, key_env: str | None) -> ModelAnswer:
    provider, _, model = name.partition("/")
    if server is None:
        if not model:
            raise click.UsageError(f"the model is written as provider/model, not {name!r}")
        return ModelAnswer(name, None, None)
    if not model:  # a bare model name on a server: the server is the provider "local"
        provider, model = "local", name
    variable = key_env or f"{provider.upper().replace('-', '_')}_API_KEY"
    key = session.secret(f"the server's API key ({variable})", variable, required=False)
    return ModelAnswer(f"{provider}/{model}", server, key)


def _default_model() -> str | None:
    from core.config import load_settings
    from core.llm import providers

    try:
        return providers.default_model_name(load_settings(), probe=False)
    except Exception:  # no default is fine: the person types one
        return None


def _check_model(answer: ModelAnswer) -> Check:
    from bots.terminal.doctor import model_answers
    from core.config import CustomProvider, Settings, resolve_paths

    providers: dict[str, CustomProvider] = {}
    if answer.server is not None:
        provider, _, model = answer.name.partition("/")
        key = answer.key.value if answer.key is not None else None
        providers[provider] = CustomProvider(base_url=answer.server, api_key=key, models=[model])
    settings = Settings(model=answer.name, providers=providers)
    settings.config, settings.data = resolve_paths()
    return asyncio.run(model_answers(settings))


# --------------------------------------------------------------------------------------------- the platforms


def _chosen_platforms(session: Session) -> list[PlatformSpec[Any]]:
    from bots.chat import registry

    every = registry.platforms()
    # A surface with no bot token of its own (the web page: people sign in with API tokens) has nothing to ask.
    known = {name: spec for name, spec in every.items() if spec.token_variable is not None}
    chosen = session.options.platforms
    while chosen is None:
        if not session.asking:
            chosen = ()
            break
        typed = click.prompt(
            f"Chat platforms, comma-separated ({', '.join(known)}; empty: none)", default="", show_default=False
        )
        words = tuple(word.strip().lower() for word in typed.replace(" ", ",").split(",") if word.strip())
        unknown = [word for word in words if word not in known]
        if unknown:
            click.echo(f"  not a platform here: {', '.join(unknown)}")
        else:
            chosen = words
    tokenless = [name for name in chosen if name in every and name not in known]
    if tokenless:
        name = tokenless[0]
        raise click.UsageError(f"{name}: nothing to set up with openkoi init; it needs {every[name].setup}")
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise click.UsageError(f"not a chat platform here: {', '.join(unknown)} (there are: {', '.join(known)})")
    return [known[name] for name in dict.fromkeys(chosen)]


def _ask_platform(session: Session, spec: PlatformSpec[Any]) -> PlatformAnswer:
    while True:
        secrets: dict[str, Secret] = {}
        for key, variable in _secret_keys(spec).items():
            asked = session.secret(f"{spec.name} {key}", variable, required=key == "bot_token")
            if asked is not None:
                secrets[key] = asked
        answer = PlatformAnswer(spec, secrets)
        if session.settle(spec.name, functools.partial(_check_platform, answer)) != "change":
            return answer


def _secret_keys(spec: PlatformSpec[Any]) -> dict[str, str]:
    """The platform's secret keys (its settings' secret fields, the bot token first), each with the variable a
    reference names: the platform's own (its spec's ``env``), else its ``OPENKOI_<SECTION>__<KEY>``."""
    from pydantic import SecretStr

    variables = {key: variable for variable, key in spec.env.items()}
    keys = [
        name
        for name, info in spec.settings.model_fields.items()
        if info.annotation is SecretStr or SecretStr in getattr(info.annotation, "__args__", ())
    ]
    keys.sort(key=lambda name: name != "bot_token")
    return {key: variables.get(key, f"OPENKOI_{spec.name}__{key}".upper()) for key in keys}


def _check_platform(answer: PlatformAnswer) -> Check:
    import os

    from bots.terminal.doctor import Check, probe_platform

    spec = answer.spec
    # The platform's other variables still count (an api_url pointing at a self-hosted or test server).
    values: dict[str, Any] = {key: os.environ[v] for v, key in spec.env.items() if os.environ.get(v)}
    values.update({key: secret.value for key, secret in answer.secrets.items()})
    settings = spec.settings.model_validate(values)
    off = settings.off_reason()
    if off is not None:
        return Check("fail", f"{spec.name}: {off}", "give it, or the service leaves the platform off")
    return probe_platform(spec, settings)


# ------------------------------------------------------------------------------------------------- secrets


def _all_secrets(model: ModelAnswer, platforms: list[PlatformAnswer]) -> list[Secret]:
    found = [model.key] if model.key is not None else []
    return found + [secret for answer in platforms for secret in answer.secrets.values()]


def _secrets_form(session: Session, model: ModelAnswer, platforms: list[PlatformAnswer]) -> SecretsForm:
    chosen = session.options.secrets
    if chosen is not None or not _all_secrets(model, platforms):
        return chosen or "ref"
    if not session.asking:
        return "ref"
    form = click.prompt(
        "Write the secrets into config.toml as ${VAR} references to environment variables, or as values?",
        type=_Choice(["ref", "value"]),
        default="ref",
    )
    return "value" if form == "value" else "ref"
