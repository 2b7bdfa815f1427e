"""``openkoi doctor``: is this setup able to run a task, and if not, what to do about it.

Each check prints one line, ``ok|warn|fail  <what>  — <what to do>``; the exit code is 0 only when
nothing failed. Without ``--live`` nothing is sent to a model or a chat platform and litellm is not
imported (the model names are checked against litellm's list only with ``--live``).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click

from bots.terminal import command as codes
from core.config import resolve_paths
from core.errors import ConfigError, MissingCredentials, OpenKoiError
from core.loop.workspace import workspace_root

if TYPE_CHECKING:
    from bots.chat.settings import PlatformSettings
    from bots.chat.spec import PlatformSpec
    from core.config import Settings
    from core.llm.gateway import ModelGateway
    from core.llm.providers import ModelRef
    from core.models import Role

Level = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    level: Level
    what: str
    todo: str = ""

    def line(self) -> str:
        return f"{self.level:<4}  {self.what}" + (f"  — {self.todo}" if self.todo else "")


def run_doctor(live: bool) -> int:
    return asyncio.run(_report(live))


async def _report(live: bool) -> int:
    counts = {"ok": 0, "warn": 0, "fail": 0}
    async for check in checks(live):
        counts[check.level] += 1
        click.echo(check.line())
    plural = {"fail": "failed", "warn": "warning" + ("s" if counts["warn"] != 1 else "")}
    click.echo(f"\n{counts['fail']} {plural['fail']}, {counts['warn']} {plural['warn']}, {counts['ok']} ok")
    return codes.EXIT_FAILED if counts["fail"] else codes.EXIT_DONE


async def checks(live: bool) -> AsyncIterator[Check]:
    """Every check, in the order a person would fix things."""
    config_path, data_dir = resolve_paths()
    settings = None
    config_problem = None
    try:
        from core.config import load_settings

        settings = load_settings()
    except ConfigError as exc:
        config_problem = _one_line(exc)
        yield Check("fail", f"config: {config_problem}", "fix the key named above (see README, Configuration)")
    else:
        present = "" if config_path.exists() else " (not present: defaults)"
        yield Check("ok", f"config {config_path}{present}")
    if settings is not None:
        async for check in _models(settings, live):
            yield check
    for check in _soul_and_rubrics(config_path.parent):
        yield check
    yield _data_dir(data_dir)
    if settings is not None:
        yield _workspace(settings.tools.workspace)
        from bots.terminal.memory import doctor_checks

        for level, what, todo in doctor_checks(settings):
            yield Check(level, what, todo)
        for check in _gate(settings):
            yield check
        async for check in _acting(settings, live):
            yield check
    async for check in _platforms(live, config_problem):
        yield check


def _gate(settings: Settings) -> list[Check]:
    """The rule floor loads with the team's rules (a bad rule or file fails here, not on the first task),
    and whether the audit ledger is on. The floor is loaded without its embedder: that loads on first use."""
    from core.gate.floor import Floor
    from core.gate.spec import load_rulebook, shipped_rulebook_path

    floor_settings = settings.gate.floor
    try:
        floor = Floor.load(floor_settings.model_copy(update={"embedder": False}))
    except ConfigError as exc:
        return [Check("fail", f"rule floor: {_one_line(exc)}", "fix [gate.floor] (see README, How the gate works)")]
    shipped = {rule.id for rule in load_rulebook(shipped_rulebook_path()).rules}
    in_force = {rule.id for rule in floor.rule_specs}
    parts = [f"{len(in_force & shipped)} shipped rules"]
    if in_force - shipped:
        parts.append(f"{len(in_force - shipped)} of the team's")
    if shipped - in_force:
        parts.append(f"disabled: {', '.join(sorted(shipped - in_force))}")
    embedder = "the embedder may add matches (loaded on first use)" if floor_settings.embedder else "words only"
    checks = [Check("ok", f"rule floor: {'; '.join(parts)}; {embedder}")]
    if settings.gate.audit:
        checks.append(Check("ok", f"audit ledger: on, rows kept {settings.gate.audit_retention_days} days"))
    else:
        checks.append(Check("warn", "audit ledger: off", "set [gate] audit = true to record every gate decision"))
    return checks


async def _acting(settings: Settings, live: bool) -> AsyncIterator[Check]:
    """The team's runbooks (one line each) and MCP servers: with ``--live`` each server is started and its
    tools listed, or its one-line failure said; without, only named (nothing is started)."""
    if settings.runbooks:
        from integrations.runbooks.runbook import Runbooks

        for line in Runbooks(settings.runbooks).describe():
            yield Check("ok", f"runbook {line}")
    if not settings.mcp_servers:
        return
    if not live:
        names = ", ".join(sorted(settings.mcp_servers))
        yield Check(
            "ok", f"mcp servers: {names} (not started)", "openkoi doctor --live starts them and lists their tools"
        )
        return
    from integrations.mcp.hub import McpHub

    async with McpHub.from_settings(settings) as hub:
        for report in await hub.describe():
            head, *rest = report.lines()
            detail = "; ".join(line.strip() for line in rest)
            if report.ok:
                yield Check("ok", f"mcp server {head} — {detail}")
            else:
                yield Check("fail", f"mcp server {head}: {detail}", f"fix [mcp_servers.{report.name}]")


def _one_line(exc: BaseException) -> str:
    return " ".join(part.strip() for part in str(exc).splitlines() if part.strip())


# ------------------------------------------------------------------------------------ models


async def _models(settings: Settings, live: bool) -> AsyncIterator[Check]:
    from core.llm import providers
    from core.llm.gateway import warm_up
    from core.models import Role

    if live:
        warm_up()  # import litellm now, so the one-token calls' times are the models' own
    gateway = _checking_gateway(settings)
    roles_of: dict[str, list[Role]] = {}
    unresolved: dict[str, list[Role]] = {}
    for role in Role:
        try:
            roles_of.setdefault(providers.role_model_name(role, settings), []).append(role)
        except OpenKoiError as exc:
            unresolved.setdefault(str(exc), []).append(role)
    for problem, roles in unresolved.items():
        yield Check("fail", f"model for {_names(roles)}: {problem}", "see README, Point it at a model")
    for name, roles in roles_of.items():
        async for check in _model(gateway, settings, name, roles, live):
            yield check


def _checking_gateway(settings: Settings) -> ModelGateway:
    """A gateway that makes one attempt with a short timeout: a check reports what happens, it does not wait
    out retries."""
    from core.llm.gateway import ModelGateway

    retry = settings.retry.model_copy(update={"max_attempts": 1, "call_timeout": min(settings.retry.call_timeout, 30)})
    return ModelGateway(settings.model_copy(update={"retry": retry}))


async def model_answers(settings: Settings) -> Check:
    """What ``--live`` checks of the model the executor uses: its key is set, litellm knows its name, and it
    answers a one-token call (``openkoi init`` checks a model's answer so)."""
    from core.llm import providers
    from core.llm.gateway import warm_up
    from core.models import Role

    try:
        name = providers.role_model_name(Role.EXECUTOR, settings, probe=False)
        providers.require_credentials(providers.reference(name, settings))
    except MissingCredentials as exc:
        return Check("fail", f"credentials: {exc}", f"export {' '.join(v + '=…' for v in exc.variables)}")
    except OpenKoiError as exc:
        return Check("fail", f"model: {exc}", "write it as provider/model")
    warm_up()
    gateway = _checking_gateway(settings)
    try:
        gateway.ref_for(Role.EXECUTOR)
    except OpenKoiError as exc:
        return Check("fail", f"{name}: {exc}", "correct the model name")
    return await _one_token(gateway, name, Role.EXECUTOR)


def _names(roles: list[Role]) -> str:
    return ", ".join(role.value for role in roles)


async def _model(
    gateway: ModelGateway, settings: Settings, name: str, roles: list[Role], live: bool
) -> AsyncIterator[Check]:
    from core.llm import providers

    try:
        ref = providers.reference(name, settings)
    except OpenKoiError as exc:
        yield Check("fail", f"model {name} ({_names(roles)}): {exc}", "write it as provider/model")
        return
    where = f" at {ref.api_base}" if ref.api_base else ""
    yield Check("ok", f"model {name} for {_names(roles)}{where}")
    try:
        providers.require_credentials(ref)
    except MissingCredentials as exc:
        todo = f"export {' '.join(v + '=…' for v in exc.variables)} (or choose another model)"
        yield Check("fail", f"credentials: {exc}", todo)
        return
    yield Check("ok", f"credentials for {name}: {_credentials(ref, settings)}")
    if live:
        try:
            gateway.ref_for(roles[0])  # litellm's model list: an unknown name gets "did you mean"
        except OpenKoiError as exc:
            yield Check("fail", f"{name}: {exc}", "correct the model name")
            return
    if live or ref.api_base:
        mode = _describe_mode(ref, gateway.initial_format(roles[0]), settings)
        yield Check("ok", f"{name} structured output: {mode}")
    else:
        yield Check("ok", f"{name} structured output: json_schema where litellm lists support, else json_object")
    if live:
        yield await _one_token(gateway, name, roles[0])


def _credentials(ref: ModelRef, settings: Settings) -> str:
    from core.llm.providers import PROVIDERS

    provider = ref.name.partition("/")[0]
    if provider in settings.providers:
        configured = settings.providers[provider]
        if configured.api_key:
            return "key set in config.toml"
        return f"{ref.key_env} is set" if ref.key_env else "none needed (the server checks no key)"
    spec = next((s for s in PROVIDERS if s.name == provider), None)
    if spec is not None and spec.needs_all:
        return " and ".join(spec.env) + " are set"
    if ref.key_env:
        return f"{ref.key_env} is set"
    return "none needed" if ref.api_base else "left to litellm (the provider's usual variables)"


def _describe_mode(ref: ModelRef, mode: str, settings: Settings) -> str:
    if ref.structured_output == "auto":
        if ref.api_base is None:
            return (
                "json_schema (the model supports JSON schemas)"
                if mode == "json_schema"
                else f"{mode} with the schema in the prompt (litellm lists no json_schema support)"
            )
        rest = {"json_schema": " (falls back to json_object, then the prompt)", "json_object": " (then the prompt)"}
        return f"{mode}, negotiated{rest.get(mode, '')}"
    provider = ref.name.partition("/")[0]
    if provider in settings.providers:
        return f"{mode}, fixed by [providers.{provider}] structured_output"
    if provider.startswith("ollama"):
        return f"{mode} (Ollama)"
    return f"{mode}, fixed by structured_output (OPENKOI_STRUCTURED_OUTPUT)"


async def _one_token(gateway: ModelGateway, name: str, role: Role) -> Check:
    from core.llm.gateway import CallContext
    from core.models import Phase
    from core.prompt import Prompt

    prompt = Prompt("You are a health check. Answer with one word.").add("", "Say OK.")
    started = time.monotonic()
    try:
        await gateway.complete(CallContext(None, None), role, Phase.EXECUTE, prompt, max_tokens=1)
    except OpenKoiError as exc:
        return Check("fail", f"{name} one-token call: {exc}", "check the server, the key and the model name")
    except Exception as exc:  # doctor reports; it never crashes on what it was asked to check
        return Check("fail", f"{name} one-token call: {type(exc).__name__}: {exc}", "run with OPENKOI_LOG_LEVEL=debug")
    return Check("ok", f"{name} answers (one-token call, {time.monotonic() - started:.1f} s)")


# ------------------------------------------------------------------- SOUL.md, rubrics, data


def _soul_and_rubrics(config_dir: Path) -> list[Check]:
    from core.deliberation.soul import load_soul
    from core.skills import load_catalog, skills_home

    found: list[Check] = []
    workspace = Path.cwd()
    try:
        soul = load_soul(config_dir, workspace)
    except (OSError, UnicodeDecodeError) as exc:
        found.append(Check("fail", f"SOUL.md cannot be read: {exc}", "fix the file or remove it"))
    else:
        if not soul.text.strip():
            found.append(
                Check("warn", f"SOUL.md {soul.source} is empty", "write your team's values in it, or remove it")
            )
        else:
            found.append(Check("ok", f"SOUL.md: {'the bundled default' if soul.source == 'bundled' else soul.source}"))
    home = os.environ.get("OPENKOI_HOME")
    catalog = load_catalog(skills_home(Path(home) if home else None, config_dir), config_dir, workspace)
    try:
        rubrics = catalog.rubrics
    except ConfigError as exc:
        found.append(Check("fail", f"rubrics: {exc}", "reinstall openkoi"))
        return found
    names = [r.name + ("" if r.source.startswith("bundled:") else f" ({r.source})") for r in rubrics.rubrics.values()]
    found.append(Check("ok", f"rubrics: {', '.join(names)}"))
    tasks = [s.name + ("" if s.path.startswith("bundled:") else f" ({s.path})") for s in catalog.tasks()]
    found.append(Check("ok", f"task skills: {', '.join(tasks) or 'none'}"))
    for problem in catalog.problems:
        what = "rubric" if problem.kind == "evaluator" else "task skill"
        found.append(
            Check("warn", f"{what} skipped: {problem.reason}", "fix the file or remove it; tasks run without it")
        )
    return found


def _data_dir(path: Path) -> Check:
    if path.exists():
        if not path.is_dir():
            return Check("fail", f"data directory {path} is not a directory", "set OPENKOI_DATA to a directory")
        try:
            with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-"):
                pass
        except OSError as exc:
            return Check("fail", f"data directory {path} is not writable ({exc.strerror})", "fix its permissions")
        return Check("ok", f"data directory {path} (writable)")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
        return Check("ok", f"data directory {path} (created on first use)")
    return Check("fail", f"data directory {path} cannot be created ({parent} is not writable)", "set OPENKOI_DATA")


def _workspace(configured: Path | None) -> Check:
    if configured is None:
        return Check(
            "ok",
            "workspace: not set (think: the current directory; serve: no file tools)",
            "set [tools] workspace to give openkoi serve read access to a checkout",
        )
    try:
        root = workspace_root(configured, "[tools] workspace")
    except ConfigError as exc:
        return Check("fail", f"workspace: {exc}", "create it or fix the path")
    return Check("ok", f"workspace: {root} (the directory the file tools may read)")


# ---------------------------------------------------------------------------- chat platforms


async def _platforms(live: bool, config_problem: str | None) -> AsyncIterator[Check]:
    from bots.chat import registry
    from bots.config import load_service_settings

    try:
        service = load_service_settings()
    except ConfigError as exc:
        if _one_line(exc) != config_problem:  # a file that is not TOML at all is reported once
            yield Check("fail", f"chat settings: {_one_line(exc)}", "fix the key named above")
        return
    specs = registry.platforms().values()
    configured = [spec for spec in specs if service.platform(spec.name).bot_token is not None]
    if not configured:
        # Only the chat platforms' own tokens: a surface without one (the web page) follows the API's tokens.
        tokens = [spec.token_variable for spec in specs if spec.token_variable is not None]
        either = " or ".join([", ".join(tokens[:-1]), tokens[-1]] if len(tokens) > 1 else tokens)
        yield Check("ok", "chat platforms: none configured", f"for openkoi serve, set {either}")
        return
    for spec in configured:
        name, platform = spec.name, service.platform(spec.name)
        off = platform.off_reason()
        if off is not None:
            yield Check("fail", f"{name}: {off}", f"set it, or openkoi serve leaves {name} off")
        else:
            yield Check("ok", f"{name}: credentials present")
        if live:
            yield await asyncio.to_thread(probe_platform, spec, platform)
        for hint in spec.setup_hints(platform) if spec.setup_hints is not None else []:
            yield Check("warn" if hint.warn else "ok", hint.what, hint.todo)


def probe_platform(spec: PlatformSpec[Any], platform: PlatformSettings) -> Check:
    """One authenticated read with the platform's token (its spec's ``probe``); blocking. ``openkoi init`` checks a
    token so too."""
    try:
        found = spec.probe(platform)
    except OSError as exc:
        # Never the URL: Telegram's carries the token.
        reason = getattr(exc, "reason", None) or exc.strerror or exc
        return Check(
            "fail", f"{spec.name}: cannot reach its API ({reason})", "check the network and the api_url setting"
        )
    return Check("ok", found.what) if found.accepted else Check("fail", found.what, _TOKEN_TODO)


_TOKEN_TODO = "copy the bot token again from the platform's developer settings"
