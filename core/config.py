"""Settings: defaults < config.toml < environment < explicit overrides (CLI flags).

Paths: ``OPENKOI_HOME`` relocates everything (config at ``$OPENKOI_HOME/config.toml``, data at
``$OPENKOI_HOME/data``); ``OPENKOI_CONFIG`` and ``OPENKOI_DATA`` override one path each.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from core.acting.action import Effect
from core.acting.settings import McpServerSettings, Name, RunbookSettings
from core.errors import ConfigError
from core.gate.settings import GateSettings
from core.secrets import SECRET_VARIABLE
from core.tomlfile import read_toml


class _Section(BaseModel):
    # A misspelt key in config.toml must be an error, not silently ignored.
    model_config = ConfigDict(extra="forbid")


class IterationSettings(_Section):
    max_iterations: int = Field(3, ge=1, le=50)
    quality_threshold: float = Field(0.8, ge=0.0, le=1.0)
    improvement_threshold: float = Field(0.05, ge=0.0, le=1.0)
    timeout_seconds: float = Field(300.0, gt=0)
    token_budget: int = Field(200_000, gt=0)
    max_cost_usd: float = Field(2.0, gt=0)
    skip_eval_confidence: float = Field(0.95, ge=0.0, le=1.0)
    abort_on_regression: bool = True
    regression_threshold: float = Field(0.2, ge=0.0, le=1.0)
    recall_share: float = Field(0.10, ge=0.0, le=0.5)


class ToolSettings(_Section):
    loop_warning: int = Field(10, ge=1)
    loop_escalate: int = Field(20, ge=1)
    loop_abort: int = Field(30, ge=1)
    max_output_lines: int = Field(2000, ge=1)
    max_output_bytes: int = Field(50_000, ge=1)
    max_rounds: int = Field(40, ge=1)
    workspace: Path | None = None
    # Rules over tool names (``mcp__<server>__<tool>``, runbook names; shell-style patterns such as
    # ``mcp__git__*``): deny beats ask beats allow. See core.gate for how they meet the trust levels.
    allow: list[str] = Field(default_factory=list)
    ask: list[str] = Field(default_factory=list)
    deny: list[str] = Field(default_factory=list)
    # ``[tools.effects]``: the team's word on what a tool does, over tool-name patterns
    # (``"mcp__git__git_log" = "read"``); the most specific pattern wins, a tie the most severe effect.
    # It comes before a runbook's declared effect and a server's hints; the rule floor can still raise it.
    effects: dict[str, Effect] = Field(default_factory=dict)
    # How long an action waits for a person's Allow / Deny before it expires (denied as expired).
    approval_minutes: float = Field(30, gt=0, le=7 * 24 * 60)


class RetrySettings(_Section):
    base_delay: float = Field(2.0, ge=0.0)
    max_delay: float = Field(30.0, ge=0.0)
    max_attempts: int = Field(5, ge=1, le=20)
    call_timeout: float = Field(120.0, gt=0)


class ModelRoles(_Section):
    """Which model serves which role; unset roles fall back to ``model``."""

    executor: str | None = None
    evaluator: str | None = None
    planner: str | None = None
    parliament: str | None = None


# How structured replies are requested: "auto" negotiates per model (json_schema, then json_object
# with the schema in the prompt, then the schema in the prompt alone) and remembers what the server
# accepted for the life of the process; the others fix one mode.
StructuredOutputMode = Literal["auto", "json_schema", "json_object", "prompt"]


class CustomProvider(_Section):
    """An OpenAI-compatible endpoint, e.g. vLLM or LM Studio."""

    base_url: str
    api_key: str | None = None
    api_key_env: str | None = None
    models: list[str] = Field(default_factory=list)
    structured_output: StructuredOutputMode = "auto"
    # A server that runs one request at a time (llama.cpp, a small box): calls to it are serialised
    # rather than piled up in its queue. (A timed-out call to a server on this machine is never
    # re-sent, whatever this says: the server is still working on the first one.)
    single_slot: bool = False


class Temperatures(_Section):
    """Sampling temperature per role for structured calls (plan, votes, scores): low, so that a
    weak model's answer is stable. ``executor`` also applies to free-form execution when set."""

    planner: float = Field(0.2, ge=0.0, le=2.0)
    parliament: float = Field(0.1, ge=0.0, le=2.0)
    evaluator: float = Field(0.1, ge=0.0, le=2.0)
    executor: float | None = Field(None, ge=0.0, le=2.0)


class ParliamentSettings(_Section):
    confirmation_ttl_minutes: float = Field(30.0, gt=0)


class MemorySettings(_Section):
    """How memories are embedded, found, reinforced and forgotten (see core.memory)."""

    # "local": all-MiniLM-L6-v2 (int8 ONNX) on this machine; or "<provider>/<model>" through litellm.
    embedder: str = "local"
    # "auto": sqlite-vec when the extension loads, else exact cosine in Python; "exact" forces the latter.
    index: Literal["auto", "exact"] = "auto"
    # Cosine similarity below which a memory is not about the task (MiniLM, measured: unrelated
    # task/learning pairs score -0.15 to 0.25, a learning on the task's subject 0.3 to 0.65).
    min_similarity: float = Field(0.3, ge=-1.0, le=1.0)
    # A new learning at least this close to one the task can see reinforces it instead of being added.
    reinforce_similarity: float = Field(0.9, ge=0.0, le=1.0)
    # Confidence decays by exp(-decay_per_week x weeks since last used), computed when read.
    decay_per_week: float = Field(0.05, ge=0.0)
    # A memory whose decayed confidence is below this is not recalled (and may be pruned).
    min_confidence: float = Field(0.1, ge=0.0, le=1.0)
    max_recalled: int = Field(20, ge=1, le=200)
    # Finished tasks older than this have their iteration transcripts compacted into a summary.
    compact_after_days: float = Field(30.0, gt=0)


class SkillSettings(_Section):
    """How task skills are chosen (see ``core.skills.selection``)."""

    max_per_task: int = Field(3, ge=0, le=10)
    # The skills' share of the task's token budget, in each plan and execution prompt.
    token_share: float = Field(0.05, ge=0.0, le=0.3)
    # How similar (0-1) a skill's text must be to the task, unless the task names one of its categories.
    min_relevance: float = Field(0.1, ge=0.0, le=1.0)


class ScheduleSettings(_Section):
    """When ``openkoi serve``'s scheduler runs each job: standard 5-field crontab expressions in ``timezone``
    (see ``scheduler/``). Owned by the scheduler; the jobs themselves live in ``core``."""

    # False: ``openkoi serve`` runs no scheduled jobs (``openkoi schedule run`` still works).
    enabled: bool = True
    timezone: str = "UTC"
    daily_digest: str = "0 9 * * *"
    weekly_digest: str = "0 9 * * mon"
    pattern_mining: str = "30 3 * * *"
    memory_maintenance: str = "0 4 * * *"
    # Deletes the gate's audit rows older than [gate] audit_retention_days.
    audit_pruning: str = "30 4 * * *"
    # A run missed by at most this much (downtime, a busy loop) still runs once when the service is back.
    misfire_grace_seconds: int = Field(6 * 3600, ge=1)
    # Only one process schedules per database: it holds a lease renewed every third of this. A
    # crashed owner is replaced by another ``openkoi serve`` at most this long after its last renewal.
    lease_seconds: int = Field(60, ge=3, le=3600)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}; use an IANA name such as 'Europe/Berlin' or 'UTC'") from None
        return value

    @field_validator("daily_digest", "weekly_digest", "pattern_mining", "memory_maintenance", "audit_pruning")
    @classmethod
    def _crontab(cls, value: str) -> str:
        from core import cron

        cron.check(value)
        return value


class PatternSettings(_Section):
    """How usage patterns are mined and proposed as skills (see ``core.reflection``)."""

    # A pattern needs at least this many supporting tasks, and this confidence, to be proposed.
    min_samples: int = Field(3, ge=2)
    min_confidence: float = Field(0.6, ge=0.0, le=1.0)
    # Two task texts are the same kind of task when their embeddings' cosine reaches this (MiniLM,
    # measured: paraphrases of one request 0.83-0.99, chained through each other; different requests
    # on one subject 0.5-0.75; but "staging" vs "production" certs 0.87, so this groups those too).
    similarity: float = Field(0.85, ge=0.0, le=1.0)
    # Task B follows task A when the same requester or channel asks for it within this many minutes.
    sequence_window_minutes: float = Field(60.0, gt=0)
    # Only tasks asked within this many days are mined (0: all of them).
    lookback_days: int = Field(90, ge=0)
    # At most this many task texts not seen before are embedded per run (~250/s on one core); the
    # rest wait for the next run, so a first run over a long history stays bounded.
    max_new_texts: int = Field(2000, ge=1)


class Pricing(_Section):
    input_per_mtok: float = Field(ge=0.0)
    output_per_mtok: float = Field(ge=0.0)


class LayeredSettings(BaseSettings):
    """Settings whose values come, highest priority first, from explicit arguments, then ``OPENKOI_*``
    variables, then the layers under them (``lower_sources``): the one place that order is written."""

    @classmethod
    def lower_sources(cls, settings_cls: type[BaseSettings]) -> tuple[PydanticBaseSettingsSource, ...]:
        """The layers under the ``OPENKOI_*`` variables, highest first: for the engine, config.toml."""
        return (FileSource(settings_cls),)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, *cls.lower_sources(settings_cls))


class Settings(LayeredSettings):
    model_config = SettingsConfigDict(
        env_prefix="OPENKOI_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    home: Path | None = None
    config: Path | None = None
    data: Path | None = None
    model: str | None = None
    # The structured-output mode for a server reached through OPENAI_BASE_URL (see StructuredOutputMode).
    structured_output: StructuredOutputMode = "auto"
    log_level: Literal["error", "warn", "warning", "info", "debug", "trace"] = "warn"
    ollama_url: str = "http://localhost:11434"
    iteration: IterationSettings = Field(default_factory=IterationSettings)
    tools: ToolSettings = Field(default_factory=ToolSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    models: ModelRoles = Field(default_factory=ModelRoles)
    temperature: Temperatures = Field(default_factory=Temperatures)
    parliament: ParliamentSettings = Field(default_factory=ParliamentSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    skills: SkillSettings = Field(default_factory=SkillSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    patterns: PatternSettings = Field(default_factory=PatternSettings)
    gate: GateSettings = Field(default_factory=GateSettings)
    mcp_servers: dict[Name, McpServerSettings] = Field(default_factory=dict)
    runbooks: dict[Name, RunbookSettings] = Field(default_factory=dict)
    providers: dict[str, CustomProvider] = Field(default_factory=dict)
    pricing: dict[str, Pricing] = Field(default_factory=dict)

    @property
    def config_path(self) -> Path:
        assert self.config is not None
        return self.config

    @property
    def data_dir(self) -> Path:
        assert self.data is not None
        return self.data

    @property
    def db_path(self) -> Path:
        return self.data_dir / "openkoi.db"

    @property
    def config_dir(self) -> Path:
        return self.config_path.parent


class FileSource(PydanticBaseSettingsSource):
    """Feeds the already-parsed config.toml (see ``load_settings``) as the lowest layer.

    ``data`` is set just before the settings are built and cleared after; a settings class that
    reads other sections of the same file subclasses this with its own ``data``.
    """

    data: ClassVar[dict[str, Any]] = {}

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.data)


def resolve_paths(env: dict[str, str] | None = None) -> tuple[Path, Path]:
    """Return (config file, data dir) from the environment, before any file is read."""
    env = dict(os.environ) if env is None else env
    home = env.get("OPENKOI_HOME")
    if home:
        config = Path(home) / "config.toml"
        data = Path(home) / "data"
    else:
        config = Path.home() / ".openkoi" / "config.toml"
        data = Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "openkoi"
    if env.get("OPENKOI_CONFIG"):
        config = Path(env["OPENKOI_CONFIG"])
    if env.get("OPENKOI_DATA"):
        data = Path(env["OPENKOI_DATA"])
    return config.expanduser(), data.expanduser()


def _read_toml(path: Path) -> dict[str, Any]:
    return read_toml(path) if path.exists() else {}


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"])
    got = error.get("input")
    shown = "" if isinstance(got, dict) or _may_be_secret(error) else f" (got {got!r})"
    return f"key '{key}': {error['msg']}{shown}"


def _may_be_secret(error: dict[str, Any]) -> bool:
    """Never echo a value that may be a credential: one under a key named like one (``bot_token``,
    ``signing_secret``, ``api_key``), or under a misspelt key, whose meaning nobody can know."""
    if error.get("type") == "extra_forbidden":
        return True
    return any(SECRET_VARIABLE.search(str(part)) for part in error["loc"])


def _from_file(error: dict[str, Any], data: dict[str, Any]) -> bool:
    """True when the offending value is the one config.toml holds at the error's key.

    Checking only the top-level section blamed the file for a bad OPENKOI_* value whenever the
    file also had that section (e.g. [iteration]).
    """
    loc = tuple(error["loc"])
    if error.get("type") == "missing":  # nothing at the key: judge by the value that lacks it
        loc = loc[:-1]
    node: Any = data
    for part in loc:
        if isinstance(node, dict) and str(part) in node:
            node = node[str(part)]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            break  # a leaf, or a type tag of a union (e.g. 'function-after[...]'): compare here
    return node is not data and bool(node == error.get("input"))


# Sections of config.toml that belong to the chat service (read by bots.config), not the engine: these three,
# and one per chat platform installed. The engine's strict settings skip them; the service's settings
# validate them just as strictly.
SERVICE_SECTIONS = ("serve", "digest", "api")
# Each chat platform is an entry point in this group named after its section (see bots.chat.registry). Only
# the names are read here, nothing is imported: the engine knows that platforms have sections, not which.
PLATFORM_GROUP = "openkoi.platforms"


@functools.cache
def service_sections() -> tuple[str, ...]:
    """The sections of config.toml the engine leaves to the chat service."""
    return (*SERVICE_SECTIONS, *sorted(entry_points(group=PLATFORM_GROUP).names))


def forget_platform_sections() -> None:
    """Read the platforms' names again at the next look (after a platform plugin was installed in-process)."""
    service_sections.cache_clear()


def read_config_file() -> tuple[Path, dict[str, Any]]:
    """The config file's path and parsed contents ({} when it does not exist)."""
    config_path, _ = resolve_paths()
    return config_path, _read_toml(config_path)


def describe_errors(exc: ValidationError, origin: Callable[[dict[str, Any]], str]) -> ConfigError:
    """One ConfigError listing every problem as '<origin>: key '<k>': <what was expected>'."""
    problems = [f"{origin(dict(error))}: {_describe(dict(error))}" for error in exc.errors()]
    return ConfigError("invalid configuration:\n  " + "\n  ".join(problems))


def blame(error: dict[str, Any], file_data: dict[str, Any], path: Path, env_hint: str) -> str:
    """Name where a bad value came from: the file when it holds exactly that value, else ``env_hint``."""
    return str(path) if _from_file(error, file_data) else env_hint


def load_settings(**overrides: Any) -> Settings:
    """Build settings; ``overrides`` are explicit values (e.g. CLI flags) and win over everything.

    Raises ConfigError naming the file, the key and what was expected.
    """
    config_path, data_dir = resolve_paths()
    toml_data = _read_toml(config_path)
    # Paths come from the environment (resolved above), never from the file that they locate.
    for key in ("home", "config", "data", *service_sections()):
        toml_data.pop(key, None)
    FileSource.data = toml_data

    def origin(error: dict[str, Any]) -> str:
        top = str(error["loc"][0]) if error["loc"] else ""
        if top in overrides and overrides[top] is not None:
            return "command-line option"
        return blame(error, toml_data, config_path, "environment (OPENKOI_*)")

    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise describe_errors(exc, origin) from exc
    finally:
        FileSource.data = {}
    settings.config = config_path
    settings.data = data_dir
    return settings
