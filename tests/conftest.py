"""Shared fixtures: a fake model server reached through litellm, a temporary OPENKOI_HOME, an engine."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from core.config import Settings, load_settings
from core.engine import Engine
from core.events import Event, EventBus
from core.memory.embedder import LocalEmbedder
from core.memory.memory import Memory
from core.store import Store
from tests.fakes.model_server import FakeModelServer
from tests.fakes.scripts import install_defaults

PROVIDER_KEYS = (
    "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY", "GROQ_API_KEY", "OPENROUTER_API_KEY", "TOGETHERAI_API_KEY", "TOGETHER_API_KEY",
    "DEEPSEEK_API_KEY", "MOONSHOT_API_KEY", "XAI_API_KEY", "DASHSCOPE_API_KEY", "QWEN_API_KEY",
    "OPENAI_BASE_URL", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy",
)  # fmt: skip


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean OPENKOI_HOME and an environment with no provider credentials."""
    for key in PROVIDER_KEYS:
        monkeypatch.delenv(key, raising=False)
    for key in [k for k in os.environ if k.startswith("OPENKOI_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("OPENKOI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OPENKOI_RETRY__BASE_DELAY", "0.01")
    monkeypatch.setenv("OPENKOI_RETRY__MAX_DELAY", "0.05")
    return tmp_path / "home"


@pytest.fixture
async def fake_model() -> AsyncIterator[FakeModelServer]:
    async with FakeModelServer() as server:
        install_defaults(server)
        yield server


@pytest.fixture
def model_env(home: Path, fake_model: FakeModelServer, monkeypatch: pytest.MonkeyPatch) -> FakeModelServer:
    """Point the standard OpenAI variables at the fake: the production path, end to end."""
    monkeypatch.setenv("OPENKOI_MODEL", "openai/fake")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_model.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    return fake_model


@pytest.fixture
def settings(model_env: FakeModelServer, tmp_path: Path) -> Settings:
    return load_settings()


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list:  # type: ignore[type-arg]
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    async with Store(settings.db_path) as opened:
        yield opened


@pytest.fixture(scope="session")
def local_embedder() -> LocalEmbedder:
    """The real local embedder (all-MiniLM-L6-v2 int8), loaded once for the whole run."""
    embedder = LocalEmbedder()
    embedder.embed_sync(["warm up"])
    return embedder


@pytest.fixture
def memory(settings: Settings, store: Store, local_embedder: LocalEmbedder) -> Memory:
    return Memory(settings, store, local_embedder)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def engine(settings: Settings, store: Store, recorder: Recorder, tmp_path: Path) -> Engine:
    bus = EventBus()
    bus.subscribe(recorder)
    workspace = tmp_path / "workspace"
    workspace.mkdir(exist_ok=True)
    return Engine(settings, store, bus, workspace=workspace)


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # litellm reads these at call time; a developer's real keys must never reach a test.
    for key in ("ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    yield


@pytest.fixture(autouse=True)
def _fresh_endpoints() -> Iterator[None]:
    # What the gateway learns about a server (refused formats, token ratio) lasts for the process;
    # a later test's fake may reuse a port, so each test starts from nothing learnt.
    from core.llm.endpoint import forget_all

    forget_all()
    yield
    forget_all()
