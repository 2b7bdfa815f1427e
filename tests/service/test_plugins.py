"""A platform is a plugin: a package registered as an ``openkoi.platforms`` entry point is a chat platform like
the ones openkoi ships, with no edit anywhere else; a broken plugin is an error that names it."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from bots.chat import registry
from bots.chat.platform import Actor, InboundCommand
from bots.chat.registry import PluginError
from bots.config import load_service_settings
from bots.logs import NOISY, noisy_loggers
from core.config import Settings, load_settings
from tests.chat_service import running_service, service_settings, wait_until
from tests.conftest import PROVIDER_KEYS
from tests.fakes.chat_platform import RECORDING, RecordingPlatform
from tests.support import PLUGIN_DISTRIBUTION, registered_platforms
from tests.terminal.test_e2e import OPENKOI

# A chat platform written as a separate package would be: its settings, markup, button codec, token probe,
# digest key, SDK loggers and adapter factory, and nothing else. (Its adapter is the in-memory recorder.)
DEMO_SPEC = '''
    """Demo: a chat platform that lives outside openkoi's tree."""

    from __future__ import annotations

    from bots.chat.markup import Markup
    from bots.chat.settings import Pace, PlatformSettings
    from bots.chat.spec import PlatformSpec, TokenCheck
    from tests.fakes.chat_platform import RecordingButtons, RecordingPlatform


    class DemoSettings(PlatformSettings):
        room_pace: Pace = Pace(messages=100, seconds=1.0)

        def off_reason(self):
            return "DEMO_BOT_TOKEN is not set" if self.bot_token is None else None


    def escape(text):
        return text.replace("[", "(").replace("]", ")")


    MARKUP = Markup(500, escape, "[b]{}[/b]".format, "[i]{}[/i]".format, "[c]{}[/c]".format, escape)


    def probe(settings):
        return TokenCheck(True, "demo: the token is accepted")


    def adapter(settings, ingress, desk):
        return RecordingPlatform(name="demo", markup=MARKUP, edit_interval=settings.edit_interval)


    DEMO = PlatformSpec(
        name="demo",
        settings=DemoSettings,
        env={"DEMO_BOT_TOKEN": "bot_token"},
        setup="DEMO_BOT_TOKEN",
        markup=MARKUP,
        buttons=RecordingButtons(),
        probe=probe,
        digest_key="demo_rooms",
        loggers=("demo_sdk",),
        adapter=adapter,
    )
'''


@pytest.fixture
def site(home: Path, tmp_path: Path) -> Path:
    """The demo package, where an installer would put it, and a config.toml with its sections."""
    package = tmp_path / "site" / "openkoi_demo_chat"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "spec.py").write_text(textwrap.dedent(DEMO_SPEC), encoding="utf-8")
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        '[demo]\nedit_interval = 0\n[demo.access]\nallowed_users = ["U1"]\n[digest]\ndemo_rooms = ["R1"]\n',
        encoding="utf-8",
    )
    return package.parent


async def test_a_platform_package_added_through_its_entry_point_runs_a_think(
    settings: Settings, site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMO_BOT_TOKEN", "demo-token")
    monkeypatch.setenv("OPENKOI_SERVE__PORT", "0")
    with registered_platforms(site, demo="openkoi_demo_chat.spec:DEMO"):
        assert registry.names()[-1] == "demo" and "demo_sdk" in noisy_loggers()
        assert load_settings().model is not None, "the engine's strict settings leave [demo] to the service"
        service = load_service_settings()
        assert service.platform("demo").access.allowed_users == ["U1"]
        async with running_service(settings, service) as svc:
            assert "  demo: on" in svc.startup_report
            demo = svc.adapters["demo"]
            assert isinstance(demo, RecordingPlatform) and svc.digests is not None
            assert svc.digests.targets() == [("demo", "R1")]
            stranger = InboundCommand("demo", "k0", Actor("demo", "U2", "bob"), "R1", "write a haiku")
            refused = await svc.ingress.handle(stranger)
            assert refused is not None and refused.task_id is None, "[demo.access] restricts /think"
            asked = InboundCommand("demo", "k1", Actor("demo", "U1", "ann"), "R1", "write a haiku")
            reply = await svc.ingress.handle(asked)
            assert reply is not None and reply.task_id is not None
            task_id = reply.task_id

            async def answered() -> bool:
                return await svc.store.conversations.posted(task_id, "done") is not None

            await wait_until(answered)
            await svc.publisher.flush(within=5)
            parent = demo.parents()[0]
            assert parent.current.text.startswith("[b]/think[/b] write a haiku"), "the demo markup wrote it"
            assert "The answer." in "\n".join(p.current.text for p in demo.thread(parent.message_id))
    assert "demo" not in registry.names()


async def test_the_in_memory_test_platform_registers_under_its_own_name(settings: Settings, tmp_path: Path) -> None:
    with registered_platforms(tmp_path, recording="tests.fakes.chat_platform:RECORDING"):
        assert registry.spec("recording") is RECORDING
        async with running_service(settings, service_settings(recording={"bot_token": "t"})) as svc:
            platform = svc.adapters["recording"]
            assert isinstance(platform, RecordingPlatform) and platform.name == "recording"
            assert "  recording: on" in svc.startup_report


@pytest.mark.parametrize(
    ("name", "target", "problem"),
    [
        ("broken", "no_such_module.spec:BROKEN", "could not be loaded: ModuleNotFoundError"),
        ("notaspec", "tests.fakes.chat_platform:NAME", "is not a PlatformSpec (it is a str)"),
        ("misnamed", "tests.fakes.chat_platform:RECORDING", "is registered as 'misnamed' but its spec is named"),
        ("serve", "tests.fakes.chat_platform:RECORDING", "cannot be a config.toml section of its own"),
    ],
)
def test_a_broken_platform_plugin_is_an_error_naming_it(tmp_path: Path, name: str, target: str, problem: str) -> None:
    with registered_platforms(tmp_path, **{name: target}):
        with pytest.raises(PluginError) as err:
            registry.platforms()
        assert noisy_loggers() == NOISY, "logging (for openkoi think too) does not depend on a chat plugin"
    assert f"chat platform plugin {name!r} ({target} in {PLUGIN_DISTRIBUTION})" in str(err.value)
    assert problem in str(err.value)


def test_openkoi_serve_refuses_to_start_with_a_broken_plugin(tmp_path: Path) -> None:
    site = tmp_path / "site"
    with registered_platforms(site, broken="no_such_module.spec:BROKEN"):
        env = {k: v for k, v in os.environ.items() if k not in PROVIDER_KEYS and not k.startswith("OPENKOI_")}
        env.update(OPENKOI_HOME=str(tmp_path / "home"), PYTHONPATH=str(site))
        done = subprocess.run([OPENKOI, "serve", "--port", "0"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "chat platform plugin 'broken'" in done.stderr and "ModuleNotFoundError" in done.stderr
