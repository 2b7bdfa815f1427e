"""Provider discovery, role resolution, references, "did you mean", and the local Ollama probe."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from core.config import CustomProvider, ModelRoles, Settings
from core.errors import MissingCredentials, ModelNotFoundError, NoModelConfigured
from core.llm import providers
from core.llm.providers import (
    PROVIDERS,
    Credential,
    ModelRef,
    default_model_name,
    discover,
    probe_ollama,
    reference,
    require_credentials,
    role_model_name,
    validate,
)
from core.models import Role
from tests.fakes.model_server import FakeModelServer

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings() reads OPENKOI_* and urllib reads proxies: neither may come from the developer's shell."""
    for key in [k for k in os.environ if k.startswith("OPENKOI_")]:
        monkeypatch.delenv(key)
    for key in PROXY_VARS:
        monkeypatch.delenv(key, raising=False)


def settings(**values: Any) -> Settings:
    return Settings(**values)


# --- discover ----------------------------------------------------------------------------------------


def test_discover_nothing() -> None:
    assert discover({}) == []
    assert discover({"UNRELATED": "x", "ANTHROPIC_API_KEY": ""}) == []  # an empty key is no key


def test_discover_follows_preference_order_not_env_order() -> None:
    env = {"DEEPSEEK_API_KEY": "d", "OPENAI_API_KEY": "o", "ANTHROPIC_API_KEY": "a", "GROQ_API_KEY": "g"}
    assert [c.provider for c in discover(env)] == ["anthropic", "openai", "groq", "deepseek"]


def test_discover_reports_where_the_key_was_found() -> None:
    assert discover({"GOOGLE_API_KEY": "g"}) == [Credential("gemini", "env:GOOGLE_API_KEY")]
    assert discover({"TOGETHER_API_KEY": "t"}) == [Credential("together_ai", "env:TOGETHER_API_KEY")]


@pytest.mark.parametrize(
    ("env", "found"),
    [
        ({"AWS_ACCESS_KEY_ID": "id"}, False),
        ({"AWS_SECRET_ACCESS_KEY": "secret"}, False),
        ({"AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": ""}, False),
        ({"AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret"}, True),
    ],
)
def test_bedrock_needs_both_aws_variables(env: dict[str, str], found: bool) -> None:
    expected = [Credential("bedrock", "env:AWS_ACCESS_KEY_ID+AWS_SECRET_ACCESS_KEY")] if found else []
    assert discover(env) == expected


def test_qwen_api_key_maps_to_dashscope() -> None:
    assert discover({"QWEN_API_KEY": "q"}) == [Credential("dashscope", "env:QWEN_API_KEY")]


# --- default and role models ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"ANTHROPIC_API_KEY": "a"}, "anthropic/claude-sonnet-4-5"),
        ({"OPENAI_API_KEY": "o"}, "openai/gpt-4.1"),
        ({"OPENAI_API_KEY": "o", "ANTHROPIC_API_KEY": "a"}, "anthropic/claude-sonnet-4-5"),
        ({"QWEN_API_KEY": "q"}, "dashscope/qwen-max"),
        ({"AWS_ACCESS_KEY_ID": "i", "AWS_SECRET_ACCESS_KEY": "s"}, "bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0"),
    ],
)
def test_default_model_from_the_first_credential(env: dict[str, str], expected: str) -> None:
    assert default_model_name(settings(), env, probe=False) == expected


def test_configured_model_wins_over_credentials() -> None:
    s = settings(model="groq/openai/gpt-oss-20b")
    assert default_model_name(s, {"ANTHROPIC_API_KEY": "a"}, probe=False) == "groq/openai/gpt-oss-20b"


def test_parliament_uses_the_small_model_when_nothing_is_set() -> None:
    env = {"ANTHROPIC_API_KEY": "a"}
    assert role_model_name(Role.PARLIAMENT, settings(), env, probe=False) == "anthropic/claude-haiku-4-5"
    assert role_model_name(Role.EXECUTOR, settings(), env, probe=False) == "anthropic/claude-sonnet-4-5"
    assert role_model_name(Role.EVALUATOR, settings(), env, probe=False) == "anthropic/claude-sonnet-4-5"
    openai_env = {"OPENAI_API_KEY": "o"}
    assert role_model_name(Role.PARLIAMENT, settings(), openai_env, probe=False) == "openai/gpt-4.1-mini"


def test_parliament_uses_the_configured_model_when_settings_model_is_set() -> None:
    s = settings(model="anthropic/claude-sonnet-4-5")
    env = {"ANTHROPIC_API_KEY": "a"}
    assert role_model_name(Role.PARLIAMENT, s, env, probe=False) == "anthropic/claude-sonnet-4-5"


def test_parliament_uses_the_configured_model_when_openkoi_model_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENKOI_MODEL", "openai/gpt-4.1")
    s = Settings()
    assert s.model == "openai/gpt-4.1"
    assert role_model_name(Role.PARLIAMENT, s, {"OPENAI_API_KEY": "o"}, probe=False) == "openai/gpt-4.1"


def test_role_override_from_settings_models() -> None:
    s = settings(model="anthropic/claude-sonnet-4-5", models=ModelRoles(parliament="openai/gpt-4.1-mini"))
    env = {"ANTHROPIC_API_KEY": "a"}
    assert role_model_name(Role.PARLIAMENT, s, env, probe=False) == "openai/gpt-4.1-mini"
    assert role_model_name(Role.EXECUTOR, s, env, probe=False) == "anthropic/claude-sonnet-4-5"
    s = settings(models=ModelRoles(evaluator="gemini/gemini-2.5-flash"))
    assert role_model_name(Role.EVALUATOR, s, {}, probe=False) == "gemini/gemini-2.5-flash"


def test_no_model_configured_without_probe() -> None:
    with pytest.raises(NoModelConfigured, match="OPENKOI_MODEL"):
        default_model_name(settings(), {}, probe=False)
    with pytest.raises(NoModelConfigured):
        role_model_name(Role.PARLIAMENT, settings(), {}, probe=False)


def test_no_model_configured_when_ollama_has_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    probed: list[str] = []

    def fake_probe(url: str, timeout: float = 0.3) -> list[str]:
        probed.append(url)
        return []

    monkeypatch.setattr(providers, "probe_ollama", fake_probe)
    with pytest.raises(NoModelConfigured):
        default_model_name(settings(ollama_url="http://127.0.0.1:9"), {})
    assert probed == ["http://127.0.0.1:9"]


def test_local_ollama_model_is_the_last_resort(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(providers, "probe_ollama", lambda url, timeout=0.3: ["llama3.2:latest", "qwen3:8b"])
    assert default_model_name(settings(), {}) == "ollama/llama3.2:latest"
    # Any credential comes first, and the probe is never needed then.
    assert default_model_name(settings(), {"OPENAI_API_KEY": "o"}) == "openai/gpt-4.1"


# --- references -------------------------------------------------------------------------------------------


def test_reference_for_a_seed_provider_carries_its_key() -> None:
    ref = reference("anthropic/claude-sonnet-4-5", settings(), {"ANTHROPIC_API_KEY": "sk-ant"})
    assert ref == ModelRef(
        "anthropic/claude-sonnet-4-5", "anthropic/claude-sonnet-4-5", api_key="sk-ant", key_env="ANTHROPIC_API_KEY"
    )
    assert str(ref) == "anthropic/claude-sonnet-4-5"
    require_credentials(ref)  # present: nothing to say


def test_a_missing_key_is_named_before_any_call() -> None:
    ref = reference("anthropic/claude-sonnet-4-5", settings(), {})
    with pytest.raises(MissingCredentials, match="anthropic/claude-sonnet-4-5 needs ANTHROPIC_API_KEY") as caught:
        require_credentials(ref)
    assert caught.value.variables == ("ANTHROPIC_API_KEY",)
    bedrock = reference("bedrock/anthropic.claude-haiku-4-5-20251001-v1:0", settings(), {"AWS_ACCESS_KEY_ID": "i"})
    with pytest.raises(MissingCredentials, match="AWS_SECRET_ACCESS_KEY"):
        require_credentials(bedrock)


def test_reference_openai_with_base_url() -> None:
    env = {"OPENAI_BASE_URL": "http://127.0.0.1:8000/v1", "OPENAI_API_KEY": "sk-local"}
    ref = reference("openai/x", settings(), env)
    assert ref.litellm_model == "openai/x"
    assert ref.api_base == "http://127.0.0.1:8000/v1"
    assert ref.api_key == "sk-local"
    assert ref.structured_output == "auto"  # negotiated with the server
    assert ref.local  # a timed-out call is not re-sent to it
    custom = reference("openai/x", settings(structured_output="json_object"), env)
    assert custom.structured_output == "json_object"


def test_reference_openai_with_base_url_and_no_key_names_the_variable() -> None:
    ref = reference("openai/x", settings(), {"OPENAI_BASE_URL": "http://127.0.0.1:8000/v1"})
    assert ref.api_base == "http://127.0.0.1:8000/v1"
    with pytest.raises(MissingCredentials, match=r"OPENAI_API_KEY, which is not set .*any value"):
        require_credentials(ref)


def test_reference_openai_without_base_url() -> None:
    ref = reference("openai/gpt-4.1", settings(), {"OPENAI_API_KEY": "sk"})
    assert ref.api_base is None
    assert ref.api_key == "sk"


def test_reference_bedrock_leaves_credentials_to_litellm() -> None:
    env = {"AWS_ACCESS_KEY_ID": "i", "AWS_SECRET_ACCESS_KEY": "s"}
    assert reference("bedrock/anthropic.claude-haiku-4-5-20251001-v1:0", settings(), env).api_key is None


def test_reference_ollama() -> None:
    ref = reference("ollama/llama3.2", settings(ollama_url="http://127.0.0.1:11434"), {})
    assert ref.litellm_model == "ollama_chat/llama3.2"
    assert ref.api_base == "http://127.0.0.1:11434"


def test_reference_custom_provider() -> None:
    lab = CustomProvider(base_url="http://127.0.0.1:8001/v1", models=["qwen3"], api_key_env="MYLAB_KEY")
    s = settings(providers={"mylab": lab})
    assert default_model_name(s, {}, probe=False) == "mylab/qwen3"
    ref = reference("mylab/qwen3", s, {"MYLAB_KEY": "secret"})
    assert ref.name == "mylab/qwen3"
    assert ref.litellm_model == "openai/qwen3"
    assert ref.api_base == "http://127.0.0.1:8001/v1"
    assert ref.api_key == "secret"
    assert ref.structured_output == "auto"
    with pytest.raises(MissingCredentials, match="MYLAB_KEY"):
        require_credentials(reference("mylab/qwen3", s, {}))
    keyless = CustomProvider(base_url="http://127.0.0.1:8001/v1", models=["qwen3"])
    assert reference("mylab/qwen3", settings(providers={"mylab": keyless}), {}).api_key == "not-needed"


def test_reference_custom_provider_explicit_key_and_json_object() -> None:
    lab = CustomProvider(base_url="http://127.0.0.1:8001/v1", api_key="k", structured_output="json_object")
    ref = reference("lab/m", settings(providers={"lab": lab}), {})
    assert (ref.api_key, ref.structured_output) == ("k", "json_object")


def test_reference_without_a_provider_suggests_one() -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        reference("gpt-4.1", settings(), {"OPENAI_API_KEY": "o"})
    assert caught.value.suggestions == ["openai/gpt-4.1"]
    assert "Did you mean: openai/gpt-4.1?" in str(caught.value)


# --- validate (litellm's local model map) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("typo", "intended"),
    [("anthropic/claude-sonet-4-5", "anthropic/claude-sonnet-4-5"), ("openai/gpt-4.1-mnii", "openai/gpt-4.1-mini")],
)
def test_validate_suggests_close_matches(typo: str, intended: str) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        validate(ModelRef(typo, typo), settings())
    assert caught.value.name == typo
    assert intended in caught.value.suggestions
    assert caught.value.suggestions[0] == intended
    assert f"unknown model '{typo}'" in str(caught.value)
    assert "Did you mean" in str(caught.value)


@pytest.mark.parametrize(
    "name", ["anthropic/claude-sonnet-4-5", "openai/gpt-4.1", "openai/gpt-4.1-mini", "gemini/gemini-2.5-flash"]
)
def test_validate_passes_for_real_names(name: str) -> None:
    validate(ModelRef(name, name), settings())


def test_validate_skips_unlisted_and_custom_endpoints() -> None:
    validate(ModelRef("openrouter/some/thing-new", "openrouter/some/thing-new"), settings())
    validate(ModelRef("ollama/whatever", "ollama_chat/whatever", api_base="http://127.0.0.1:11434"), settings())
    validate(ModelRef("openai/my-finetune", "openai/my-finetune", api_base="http://127.0.0.1:8000/v1"), settings())
    lab = CustomProvider(base_url="http://127.0.0.1:8001/v1")
    validate(ModelRef("lab/anything", "openai/anything"), settings(providers={"lab": lab}))


@pytest.mark.parametrize(
    "name",
    sorted({m for spec in PROVIDERS if spec.name != "openrouter" for m in (spec.default, spec.small)}),
)
def test_every_seed_default_and_small_model_is_known_to_litellm(name: str) -> None:
    import litellm

    assert os.environ.get("LITELLM_LOCAL_MODEL_COST_MAP") == "True"
    bare = name.partition("/")[2]
    assert name in litellm.model_cost or bare in litellm.model_cost
    validate(ModelRef(name, name), settings())


# --- probe_ollama -----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_probe_closed_port_returns_empty_quickly() -> None:
    started = time.monotonic()
    assert probe_ollama(f"http://127.0.0.1:{free_port()}") == []
    assert time.monotonic() - started < 1.0


TAGS: dict[str, Any] = {
    "models": [
        {"name": "llama3.2:latest", "size": 1},
        {"name": "qwen3:8b"},
        {"model": "no-name-field"},
        "not-a-dict",
    ]
}


class _OllamaHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/api/tags":
            body = json.dumps(TAGS).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
        elif self.path == "/broken/api/tags":
            body = b"<html>not json</html>"
            self.send_response(200)
        elif self.path == "/list/api/tags":
            body = b'["llama3.2:latest"]'  # JSON, but not Ollama's object
            self.send_response(200)
        elif self.path == "/odd/api/tags":
            body = b'{"models": 5}'  # an object, but "models" is not a list
            self.send_response(200)
        else:
            body = b"not found"
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass


@pytest.fixture
def ollama_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OllamaHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_probe_parses_api_tags(ollama_url: str) -> None:
    assert probe_ollama(ollama_url) == ["llama3.2:latest", "qwen3:8b"]
    assert probe_ollama(ollama_url + "/") == ["llama3.2:latest", "qwen3:8b"]


def test_probe_ignores_http_errors_and_non_json(ollama_url: str) -> None:
    assert probe_ollama(ollama_url + "/elsewhere") == []  # 404
    assert probe_ollama(ollama_url + "/broken") == []  # 200 but not JSON
    assert probe_ollama(ollama_url + "/list") == []  # 200, JSON, but not an object
    assert probe_ollama(ollama_url + "/odd") == []  # 200, an object without a list of models


def test_default_model_from_a_real_probe(ollama_url: str) -> None:
    assert default_model_name(settings(ollama_url=ollama_url), {}) == "ollama/llama3.2:latest"


def test_a_model_under_the_wrong_provider_is_rejected() -> None:
    from core.config import Settings
    from core.errors import ModelNotFoundError
    from core.llm.providers import reference, validate

    settings = Settings()
    with pytest.raises(ModelNotFoundError):
        validate(reference("anthropic/gpt-4.1", settings, env={}), settings)
    validate(reference("openai/gpt-4.1", settings, env={}), settings)
    validate(reference("anthropic/claude-sonnet-4-5", settings, env={}), settings)


async def test_with_a_base_url_the_default_model_is_the_first_the_server_lists(
    model_env: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENKOI_MODEL")  # no model named: the server's own list decides
    env = {"OPENAI_BASE_URL": model_env.url, "OPENAI_API_KEY": "sk-test"}
    assert settings().model is None
    # The probe is a blocking call (as in the CLI); off the loop here, where the fake server runs.
    assert await asyncio.to_thread(default_model_name, settings(), env) == "openai/fake"  # not openai/gpt-4.1
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    with pytest.raises(NoModelConfigured, match=r"did not list its models.*OPENKOI_MODEL=openai/<model>"):
        default_model_name(settings(), {"OPENAI_BASE_URL": dead, "OPENAI_API_KEY": "sk-test"})


def test_the_no_model_hint_names_every_variable_a_base_url_needs() -> None:
    with pytest.raises(NoModelConfigured, match="set OPENAI_BASE_URL and OPENAI_API_KEY"):
        default_model_name(settings(), {}, probe=False)
