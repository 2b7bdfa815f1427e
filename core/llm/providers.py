"""Which models can be reached: credential discovery, role resolution, "did you mean".

Importing this module is cheap (no litellm): ``openkoi status`` uses it to show models.
Name validation against litellm's local model map imports litellm lazily.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass
from typing import Any

from core.config import CustomProvider, Settings
from core.errors import MissingCredentials, ModelNotFoundError, NoModelConfigured
from core.models import Role


@dataclass(frozen=True)
class ProviderSpec:
    name: str  # litellm's provider prefix
    env: tuple[str, ...]  # any one of these supplies the key (all of them for Bedrock)
    default: str
    small: str
    needs_all: bool = False


# Seed providers, in the order a default model is picked when several keys are present.
PROVIDERS: tuple[ProviderSpec, ...] = (
    ProviderSpec("anthropic", ("ANTHROPIC_API_KEY",), "anthropic/claude-sonnet-4-5", "anthropic/claude-haiku-4-5"),
    ProviderSpec("openai", ("OPENAI_API_KEY",), "openai/gpt-4.1", "openai/gpt-4.1-mini"),
    ProviderSpec("gemini", ("GEMINI_API_KEY", "GOOGLE_API_KEY"), "gemini/gemini-2.5-pro", "gemini/gemini-2.5-flash"),
    ProviderSpec(
        "bedrock",
        ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
        "bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0",
        "bedrock/anthropic.claude-haiku-4-5-20251001-v1:0",
        needs_all=True,
    ),
    ProviderSpec("groq", ("GROQ_API_KEY",), "groq/openai/gpt-oss-120b", "groq/openai/gpt-oss-20b"),
    ProviderSpec(
        "openrouter",
        ("OPENROUTER_API_KEY",),
        "openrouter/anthropic/claude-sonnet-4.5",
        "openrouter/openai/gpt-4.1-mini",
    ),
    ProviderSpec(
        "together_ai",
        ("TOGETHERAI_API_KEY", "TOGETHER_API_KEY"),
        "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "together_ai/Qwen/Qwen2.5-7B-Instruct-Turbo",
    ),
    ProviderSpec("deepseek", ("DEEPSEEK_API_KEY",), "deepseek/deepseek-chat", "deepseek/deepseek-chat"),
    ProviderSpec("moonshot", ("MOONSHOT_API_KEY",), "moonshot/kimi-k2.5", "moonshot/moonshot-v1-8k"),
    ProviderSpec("xai", ("XAI_API_KEY",), "xai/grok-4.3", "xai/grok-4.3"),
    ProviderSpec("dashscope", ("DASHSCOPE_API_KEY", "QWEN_API_KEY"), "dashscope/qwen-max", "dashscope/qwen-flash"),
)

# Providers whose model catalogue litellm does not list; any name is passed through.
UNLISTED = {"openrouter", "ollama", "ollama_chat", "hosted_vllm", "lm_studio"}


@dataclass(frozen=True)
class ModelRef:
    """Everything needed to call one model through litellm."""

    name: str  # as the user wrote it, e.g. "openai/gpt-4.1" or "mylab/qwen3"
    litellm_model: str
    api_base: str | None = None
    api_key: str | None = None
    structured_output: str = "auto"  # "auto" negotiates; or "json_schema" / "json_object" / "prompt"
    single_slot: bool = False  # configured: the server runs one request at a time; calls are serialised
    local: bool = False  # on this machine: a timed-out call is still running there, so it is not re-sent
    # The variables that must be set before the first call, when some are missing (checked up front).
    missing_env: tuple[str, ...] = ()
    key_env: str | None = None  # where the key comes from, named in "the key was rejected" messages

    def __str__(self) -> str:
        return self.name

    @property
    def endpoint(self) -> str:
        """Where calls go, for messages: the base URL, or the provider's name."""
        return self.api_base or self.name.partition("/")[0]


@dataclass(frozen=True)
class Credential:
    provider: str
    source: str  # where it was found, e.g. "env:ANTHROPIC_API_KEY"


def discover(env: dict[str, str] | None = None) -> list[Credential]:
    """Providers with credentials in the environment, in preference order."""
    env = dict(os.environ) if env is None else env
    found = []
    for spec in PROVIDERS:
        present = [name for name in spec.env if env.get(name)]
        if (spec.needs_all and len(present) == len(spec.env)) or (not spec.needs_all and present):
            found.append(Credential(spec.name, "env:" + "+".join(present)))
    return found


def probe_ollama(url: str, timeout: float = 0.3) -> list[str]:
    """Model names a local Ollama serves, or [] if none answers within ``timeout``."""
    import urllib.request  # here, not at the top: `openkoi status` imports this module and never probes

    try:
        with urllib.request.urlopen(url.rstrip("/") + "/api/tags", timeout=timeout) as response:
            payload = json.loads(response.read())
    except (OSError, ValueError):  # URLError is an OSError
        return []
    models = payload.get("models") if isinstance(payload, dict) else None
    if not isinstance(models, list):  # something else answered (not Ollama's {"models": [...]})
        return []
    return [str(m["name"]) for m in models if isinstance(m, dict) and "name" in m]


def _spec(provider: str) -> ProviderSpec | None:
    return next((s for s in PROVIDERS if s.name == provider), None)


def _key_for(provider: str, env: dict[str, str]) -> str | None:
    spec = _spec(provider)
    if spec is None or spec.needs_all:
        return None  # litellm reads AWS credentials itself
    return next((env[name] for name in spec.env if env.get(name)), None)


def is_loopback(url: str | None) -> bool:
    """True for a server on this machine (llama.cpp, Ollama, LM Studio): usually one slot."""
    if not url:
        return False
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    return host in {"localhost", "::1"} or host.startswith("127.")


def _custom_ref(name: str, model: str, provider: CustomProvider, env: dict[str, str]) -> ModelRef:
    key = provider.api_key or (env.get(provider.api_key_env) if provider.api_key_env else None)
    missing = (provider.api_key_env,) if provider.api_key_env and not key else ()
    return ModelRef(
        name=f"{name}/{model}",
        litellm_model=f"openai/{model}",
        api_base=provider.base_url,
        # OpenAI-compatible servers often need no key, but the SDK insists on one being set.
        api_key=key or "not-needed",
        structured_output=provider.structured_output,
        single_slot=bool(provider.single_slot),
        local=is_loopback(provider.base_url),
        missing_env=missing,
        key_env=provider.api_key_env,
    )


def _missing_for(spec: ProviderSpec, env: dict[str, str]) -> tuple[str, ...]:
    present = [name for name in spec.env if env.get(name)]
    if spec.needs_all:
        return tuple(name for name in spec.env if not env.get(name))
    return () if present else (spec.env[0],)


def reference(name: str, settings: Settings, env: dict[str, str] | None = None) -> ModelRef:
    """Turn a ``provider/model`` name into a callable reference (no network, no validation)."""
    env = dict(os.environ) if env is None else env
    provider, _, model = name.partition("/")
    if not model:
        raise ModelNotFoundError(name, [f"{c.provider}/{name}" for c in discover(env)][:3])
    if provider in settings.providers:
        return _custom_ref(provider, model, settings.providers[provider], env)
    if provider == "ollama" or provider == "ollama_chat":
        return ModelRef(
            name,
            f"ollama_chat/{model}",
            api_base=settings.ollama_url,
            structured_output="json_schema",
            local=is_loopback(settings.ollama_url),
        )
    if provider == "openai" and env.get("OPENAI_BASE_URL"):
        # Any OpenAI-compatible server: the standard OpenAI variables are honoured as-is, and like
        # the OpenAI SDK we ask for OPENAI_API_KEY (any value, for a server that checks none).
        base = env["OPENAI_BASE_URL"]
        return ModelRef(
            name,
            name,
            api_base=base,
            api_key=env.get("OPENAI_API_KEY") or None,
            structured_output=settings.structured_output,
            local=is_loopback(base),
            missing_env=() if env.get("OPENAI_API_KEY") else ("OPENAI_API_KEY",),
            key_env="OPENAI_API_KEY",
        )
    spec = _spec(provider)
    if spec is None:
        return ModelRef(name, name)  # a provider litellm knows and we do not: it finds its own key
    return ModelRef(
        name,
        name,
        api_key=_key_for(provider, env),
        missing_env=_missing_for(spec, env),
        key_env=None if spec.needs_all else next((n for n in spec.env if env.get(n)), spec.env[0]),
    )


def require_credentials(ref: ModelRef) -> None:
    """Raise MissingCredentials naming the variable when the model's key is not set (no network)."""
    if ref.missing_env:
        names = " and ".join(ref.missing_env)
        hint = ""
        if ref.missing_env == ("OPENAI_API_KEY",) and ref.api_base:
            hint = f" (OPENAI_BASE_URL={ref.api_base}; a server that checks no key accepts any value, e.g. none)"
        raise MissingCredentials(
            f"{ref.name} needs {names}, which {'is' if len(ref.missing_env) == 1 else 'are'} not set{hint}",
            ref.missing_env,
        )


def default_model_name(settings: Settings, env: dict[str, str] | None = None, probe: bool = True) -> str:
    """The model used when a role has none configured."""
    if settings.model:
        return settings.model
    env = dict(os.environ) if env is None else env
    credentials = discover(env)
    if credentials:
        spec = _spec(credentials[0].provider)
        assert spec is not None
        if spec.name == "openai" and env.get("OPENAI_BASE_URL"):
            return _served_model(env["OPENAI_BASE_URL"], env.get("OPENAI_API_KEY", ""), probe)
        return spec.default
    for name, provider in settings.providers.items():
        if provider.models:
            return f"{name}/{provider.models[0]}"
    if probe:
        local = probe_ollama(settings.ollama_url)
        if local:
            return f"ollama/{local[0]}"
    raise NoModelConfigured(
        "no model available: set OPENKOI_MODEL (e.g. anthropic/claude-sonnet-4-5) and the provider's API key "
        "(e.g. ANTHROPIC_API_KEY); or, for an OpenAI-compatible server, set OPENAI_BASE_URL and OPENAI_API_KEY "
        "(any value if the server checks none); or start Ollama."
    )


def list_served_models(base_url: str, api_key: str, timeout: float = 3.0) -> list[str]:
    """The model ids an OpenAI-compatible server lists at ``/models``; raises OSError/ValueError."""
    import urllib.request

    request = urllib.request.Request(
        base_url.rstrip("/") + "/models", headers={"Authorization": f"Bearer {api_key or 'none'}"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        payload = json.loads(response.read())
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        raise ValueError("the reply to /models has no 'data' list")
    return [str(m["id"]) for m in data if isinstance(m, dict) and m.get("id")]


def _served_model(base_url: str, api_key: str, probe: bool) -> str:
    """With OPENAI_BASE_URL and no model named, the default is the first model the server lists."""
    if not probe:
        return "openai/<first model listed at OPENAI_BASE_URL>"
    try:
        served = list_served_models(base_url, api_key)
    except (OSError, ValueError) as exc:
        raise NoModelConfigured(
            f"OPENAI_BASE_URL={base_url} did not list its models ({exc}); set OPENKOI_MODEL=openai/<model>"
        ) from exc
    if not served:
        raise NoModelConfigured(f"OPENAI_BASE_URL={base_url} lists no models; set OPENKOI_MODEL=openai/<model>")
    return f"openai/{served[0]}"


def role_model_name(role: Role, settings: Settings, env: dict[str, str] | None = None, probe: bool = True) -> str:
    configured = getattr(settings.models, role.value)
    if configured:
        return str(configured)
    default = default_model_name(settings, env, probe)
    if role is Role.PARLIAMENT and not settings.model:
        # Deliberation is one short structured call: the provider's small model is enough.
        spec = _spec(default.partition("/")[0])
        if spec is not None and spec.default == default:
            return spec.small
    return default


def validate(ref: ModelRef, settings: Settings) -> None:
    """Raise ModelNotFoundError with suggestions if litellm does not know the model.

    Custom endpoints, Ollama, OpenRouter and OpenAI-compatible servers are not checked: their
    catalogue is whatever the server says.
    """
    provider, _, model = ref.name.partition("/")
    if ref.api_base or provider in UNLISTED or provider in settings.providers:
        return
    import litellm  # lazy: costs ~2 s

    known = litellm.model_cost

    def listed_by_provider(info: dict[str, Any]) -> bool:
        return str(info.get("litellm_provider", "")).startswith(provider)

    if ref.name in known:
        return
    if model in known and listed_by_provider(known[model]):
        return  # listed under its bare name (e.g. "gpt-4.1") by the provider the user named
    pool = []
    for key, info in known.items():
        if listed_by_provider(info):
            pool.append(key if key.startswith(provider + "/") else f"{provider}/{key}")
    if not pool:
        return  # a provider litellm routes but does not list: let the call decide
    raise ModelNotFoundError(ref.name, difflib.get_close_matches(ref.name, pool, n=3, cutoff=0.5))


def model_summary(settings: Settings, env: dict[str, str] | None = None) -> tuple[bool, str]:
    """Whether every role has a usable model configured (credentials present), and one line saying
    which (``openai/gpt-4.1``, or ``a for executor, …``) or what is missing. May probe a local server."""
    env = dict(os.environ) if env is None else env
    names: dict[str, list[str]] = {}
    try:
        for role in Role:
            ref = reference(role_model_name(role, settings, env), settings, env)
            require_credentials(ref)
            names.setdefault(ref.name, []).append(role.value)
    except (NoModelConfigured, ModelNotFoundError, MissingCredentials) as exc:
        return False, str(exc)
    if len(names) == 1:
        return True, next(iter(names))
    return True, ", ".join(f"{name} ({', '.join(roles)})" for name, roles in names.items())
