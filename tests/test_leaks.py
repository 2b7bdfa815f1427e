"""Issue 8, defects 1 and 6: no secret leaves through a chat task or a log line.

The whole service runs in-process with the real python-telegram-bot against the fake Bot API and the
engine against the fake model, which is scripted like a hostile (or merely curious) model: it asks the
file tools for `.env`, `../.env` and `/proc/self/environ`, echoes whatever the tools answered into its
result, and quotes the service's own tokens. Assertions are on everything the fake Bot API received.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from core.config import Settings
from core.models import TaskStatus
from tests.fakes import scripts
from tests.fakes.model_server import FakeModelServer, Reply
from tests.platforms.telegram.fake_api import FakeTelegram
from tests.platforms.telegram.test_adapter import GROUP, fake, finished, say, serving, task_for, tg_settings

ENV_SECRET = "DB_PASSWORD=correct-horse-battery-staple"
PARENT_SECRET = "STRIPE_KEY=sk_live_parent_directory_secret"
GITHUB_TOKEN = "ghp_serviceEnvironmentToken0123456789"

__all__ = ["fake"]  # the fixture, imported for its name


def read_calls(*paths: str) -> Reply:
    return Reply(
        tool_calls=[
            {"id": f"c{n}", "type": "function", "function": {"name": "read_file", "arguments": json.dumps({"path": p})}}
            for n, p in enumerate(paths)
        ]
    )


def echo_tool_results(body: dict[str, Any]) -> Reply:
    """The model's answer: every tool result it was given, verbatim (what a leak would look like)."""
    results = [str(m.get("content")) for m in body["messages"] if m.get("role") == "tool"]
    return Reply(content="Here is what I found:\n\n" + "\n\n".join(results))


def everything_sent(fake: FakeTelegram) -> str:
    """Every parameter of every Bot API call the service made (texts, edits, keyboards)."""
    return json.dumps([call.params for call in fake.calls], default=str, ensure_ascii=False)


async def run_task(svc: Any, fake: FakeTelegram, text: str) -> str:
    update_id, _ = say(fake, text)
    task_id = await task_for(svc, update_id)
    await finished(svc, task_id, TaskStatus.DONE)
    return str(task_id)


async def test_serve_without_a_workspace_offers_no_file_tools_at_all(
    settings: Settings, fake: FakeTelegram, fake_model: FakeModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service's working directory holds its .env (a systemd or container default): nothing reads it."""
    service_dir = tmp_path / "srv"
    service_dir.mkdir()
    (service_dir / ".env").write_text(ENV_SECRET, encoding="utf-8")
    monkeypatch.chdir(service_dir)
    assert settings.tools.workspace is None
    fake_model.script.queue("execute", read_calls(".env", "proc/self/environ"), echo_tool_results)
    async with serving(settings, tg_settings(fake)) as svc:
        await run_task(svc, fake, "/think what is in the .env file?")
    first = fake_model.requests_of("execute")[0]
    assert not first.get("tools"), "under serve with no [tools] workspace the model is offered no tools"
    answered = [m["content"] for m in fake_model.requests_of("execute")[-1]["messages"] if m["role"] == "tool"]
    assert answered == ["error: no tool named 'read_file'"] * 2
    sent = everything_sent(fake)
    assert "correct-horse-battery-staple" not in sent and "PATH=" not in sent
    assert "no tool named" in sent  # the echo reached the thread: the path a leak would take was exercised


async def test_a_configured_workspace_never_yields_dotfiles_parents_or_proc(
    settings: Settings, fake: FakeTelegram, fake_model: FakeModelServer, tmp_path: Path
) -> None:
    workspace = tmp_path / "repo"
    workspace.mkdir()
    (workspace / "notes.txt").write_text("the public notes", encoding="utf-8")
    (workspace / ".env").write_text(ENV_SECRET, encoding="utf-8")
    (tmp_path / ".env").write_text(PARENT_SECRET, encoding="utf-8")
    settings.tools.workspace = workspace
    fake_model.script.queue(
        "execute", read_calls("notes.txt", ".env", "../.env", "/proc/self/environ", "../../../../proc/self/environ")
    )
    fake_model.script.queue("execute", echo_tool_results)
    async with serving(settings, tg_settings(fake)) as svc:
        await run_task(svc, fake, "/think summarise the repository")
    assert [t["function"]["name"] for t in fake_model.requests_of("execute")[0]["tools"]] == ["read_file", "list_files"]
    sent = everything_sent(fake)
    assert "the public notes" in sent  # what the workspace may show is shown
    for secret in ("correct-horse-battery-staple", "sk_live_parent_directory_secret", "PATH=", "HOME="):
        assert secret not in sent, secret
    tool_results = [m["content"] for m in fake_model.requests_of("execute")[-1]["messages"] if m["role"] == "tool"]
    assert tool_results[0] == "the public notes"
    assert all(r.startswith("error: ") for r in tool_results[1:]), tool_results
    assert "PATH=" not in json.dumps(fake_model.requests), "the environment never even reached the model"


async def test_a_secret_in_the_models_output_is_posted_as_redacted(
    settings: Settings, fake: FakeTelegram, fake_model: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_TOKEN)  # in the service's environment, like a model key
    quoted = f"the bot token is {fake.token} and GitHub's is {GITHUB_TOKEN}"
    fake_model.script.queue("execute", Reply(content=f"Done. By the way, {quoted}."))
    finding = scripts.finding("quality", description=f"the output leaks {fake.token}", quote=fake.token)
    fake_model.script.queue("Evaluation", scripts.evaluation(9, [finding]))
    async with serving(settings, tg_settings(fake)) as svc:
        # A task the rule floor lets through (asking for the tokens is a floor match): the model leaks them anyway.
        task_id = await run_task(svc, fake, "/think write a status note for the team")
        stored = await svc.store.tasks.get(task_id)
    assert stored.output is not None and fake.token in stored.output, "the record keeps the truth; chat does not"
    sent = everything_sent(fake)
    assert fake.token not in sent and GITHUB_TOKEN not in sent
    result = [m for m in fake.bot_messages(GROUP) if "By the way" in m.text]
    assert result and "the bot token is [redacted] and GitHub's is [redacted]" in result[0].text
    assert any("the output leaks [redacted]" in m.text for m in fake.bot_messages(GROUP))


async def test_no_token_in_debug_logs_of_a_telegram_service(
    settings: Settings, fake: FakeTelegram, fake_model: FakeModelServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, every level: python-telegram-bot, httpx, ours
    async with serving(settings, tg_settings(fake)) as svc:
        await run_task(svc, fake, "/think write a haiku")
    messages = [record.getMessage() for record in caplog.records]
    assert any("Set Bot API URL" in m and "[redacted]" in m for m in messages), "PTB's token-bearing line was seen"
    assert any("getUpdates" in m for m in messages), "the SDK's request lines were logged"
    assert fake.token not in caplog.text
    assert not [m for m in messages if fake.token in m]
