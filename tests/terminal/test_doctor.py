"""``openkoi doctor`` end to end: the console script against a temporary OPENKOI_HOME, the fake
model server and the fake Slack, Discord and Telegram APIs (all on 127.0.0.1)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.fakes.model_server import FakeModelServer, Reply
from tests.fakes.threaded import in_thread
from tests.platforms.discord.fake_api import FakeDiscord
from tests.platforms.slack.fake_api import FakeSlack
from tests.platforms.telegram.fake_api import FakeTelegram
from tests.support import make_git_repo, probe_command
from tests.terminal import test_e2e as e2e

server = e2e.server
env = e2e.env
openkoi = e2e.openkoi

BROKEN_SKILL = "---\nname: broken\ndimensions:\n  - name: a\n    weight: 0.5\n---\n"


def test_doctor_passes_a_good_setup_without_calling_a_model_or_importing_litellm(
    env: dict[str, str], server: FakeModelServer
) -> None:
    # In a fresh interpreter, as the console script runs it, then report what it imported.
    probed = probe_command(["doctor"], ["litellm"], env)
    lines = probed.printed
    assert (probed.code, probed.imported) == (0, []), probed
    home = Path(env["OPENKOI_HOME"])
    for expected in (
        f"ok    config {home / 'config.toml'} (not present: defaults)",
        f"ok    model openai/fake for executor, evaluator, planner, parliament at {server.url}",
        "ok    credentials for openai/fake: OPENAI_API_KEY is set",
        "ok    openai/fake structured output: json_schema, negotiated (falls back to json_object, then the prompt)",
        "ok    SOUL.md: the bundled default",
        "ok    rubrics: api-design, code-review, general, prose-quality, sql-safety, test-quality",
        "ok    task skills: self-iterate",
        f"ok    data directory {home / 'data'} (created on first use)",
        "ok    workspace: not set (think: the current directory; serve: no file tools)  — set [tools] workspace"
        " to give openkoi serve read access to a checkout",
        "ok    memory index: sqlite-vec v0.1.9",
        "ok    embedder: local all-MiniLM-L6-v2 (int8 ONNX, loaded on first use)",
        "ok    rule floor: 21 shipped rules; the embedder may add matches (loaded on first use)",
        "ok    audit ledger: on, rows kept 90 days",
        # The chat platforms' tokens only: the web page has none of its own (people sign in with API tokens).
        "ok    chat platforms: none configured  — for openkoi serve, set SLACK_BOT_TOKEN, DISCORD_BOT_TOKEN or"
        " TELEGRAM_BOT_TOKEN",
        "0 failed, 0 warnings, 14 ok",
    ):
        assert expected in lines, (expected, lines)
    assert server.requests == []


def test_doctor_names_a_missing_key_a_broken_skill_file_and_a_missing_workspace(
    env: dict[str, str], server: FakeModelServer, tmp_path: Path
) -> None:
    env["OPENKOI_MODEL"] = "anthropic/claude-sonnet-4-5"  # ANTHROPIC_API_KEY is not set
    env["OPENKOI_TOOLS__WORKSPACE"] = str(tmp_path / "no-such-checkout")
    skill = Path(env["OPENKOI_HOME"]) / "evaluators" / "broken" / "SKILL.md"
    skill.parent.mkdir(parents=True)
    skill.write_text(BROKEN_SKILL, encoding="utf-8")
    done = openkoi(env, "doctor", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert (
        "fail  credentials: anthropic/claude-sonnet-4-5 needs ANTHROPIC_API_KEY, which is not set"
        "  — export ANTHROPIC_API_KEY=… (or choose another model)"
    ) in lines
    assert (
        f"warn  rubric skipped: {skill}: dimension weights must sum to 1.0 (they sum to 0.50)"
        "  — fix the file or remove it; tasks run without it"
    ) in lines
    assert any(line.startswith("ok    rubrics: api-design, code-review, general") for line in lines), lines
    assert (
        f"fail  workspace: [tools] workspace: {tmp_path / 'no-such-checkout'} is not a directory"
        "  — create it or fix the path"
    ) in lines
    assert lines[-1] == "2 failed, 1 warning, 11 ok"
    assert done.stderr == "" and server.requests == []


def test_doctor_names_bad_configuration_without_repeating_credentials(env: dict[str, str], tmp_path: Path) -> None:
    home = Path(env["OPENKOI_HOME"])
    home.mkdir(parents=True)
    (home / "config.toml").write_text(
        '[providers.lab]\nbase_url = "http://127.0.0.1:9/v1"\napi_key = 27182818\n[telegram]\nbot_token = 31415926\n',
        encoding="utf-8",
    )
    done = openkoi(env, "doctor", cwd=tmp_path)
    assert done.returncode == 1
    fails = [line for line in done.stdout.splitlines() if line.startswith("fail")]
    assert len(fails) == 2, done.stdout
    assert f"{home / 'config.toml'}: key 'providers.lab.api_key': Input should be a valid string" in fails[0]
    assert "key 'telegram.bot_token': Input should be a valid string" in fails[1]
    assert "27182818" not in done.stdout + done.stderr and "31415926" not in done.stdout + done.stderr


def test_doctor_shows_how_the_team_shaped_the_gate(env: dict[str, str], tmp_path: Path) -> None:
    home = Path(env["OPENKOI_HOME"])
    home.mkdir(parents=True)
    rule = (
        "id = 'ledger.close'\ndomain = 'payments'\ndescription = 'Closes the books'\npatterns = ['close the books']\n"
    )
    (home / "config.toml").write_text(
        "[gate]\naudit = false\n[gate.floor]\nembedder = false\ndisabled = ['deploy.release']\n"
        f"[[gate.floor.rules]]\n{rule}",
        encoding="utf-8",
    )
    lines = openkoi(env, "doctor", cwd=tmp_path).stdout.splitlines()
    assert "ok    rule floor: 20 shipped rules; 1 of the team's; disabled: deploy.release; words only" in lines
    assert "warn  audit ledger: off  — set [gate] audit = true to record every gate decision" in lines

    (home / "config.toml").write_text("[gate.floor]\nrules_file = 'missing.toml'\n", encoding="utf-8")
    done = openkoi(env, "doctor", cwd=tmp_path)
    [floor] = [line for line in done.stdout.splitlines() if "rule floor" in line]
    assert floor.startswith("fail  rule floor:") and "missing.toml" in floor, floor
    assert done.returncode == 1


def test_doctor_lists_runbooks_and_with_live_each_mcp_server_and_its_tools(
    env: dict[str, str], server: FakeModelServer, tmp_path: Path
) -> None:
    repo = make_git_repo(tmp_path / "repo")
    home = Path(env["OPENKOI_HOME"])
    home.mkdir(parents=True)
    git_server = json.dumps(str(Path(sys.executable).parent / "mcp-server-git"))
    (home / "config.toml").write_text(
        f"""
[runbooks.restart-worker]
description = "Restart a background worker"
command = ["systemctl", "restart", "worker@{{name}}"]
params = {{ name = {{ pattern = "^[a-z0-9-]{{1,32}}$" }} }}
domain = "deploy"
effect = "write"
[mcp_servers.git]
command = {git_server}
args = ["--repository", {json.dumps(str(repo))}]
[mcp_servers.gone]
command = "no-such-mcp-server-here"
""",
        encoding="utf-8",
    )
    quiet = openkoi(env, "doctor", cwd=tmp_path).stdout.splitlines()
    assert "ok    runbook restart-worker: write in deploy: systemctl restart worker@{name}" in quiet, quiet
    assert any(line.startswith("ok    mcp servers: git, gone (not started)") for line in quiet), quiet

    live = openkoi(env, "doctor", "--live", cwd=tmp_path)
    [git_line] = [line for line in live.stdout.splitlines() if "mcp server git" in line]
    assert git_line.startswith("ok ") and "mcp__git__git_log" in git_line and "mcp__git__git_reset" in git_line
    [gone] = [line for line in live.stdout.splitlines() if "mcp server gone" in line]
    assert gone.startswith("fail  mcp server gone") and "fix [mcp_servers.gone]" in gone, gone
    assert "Traceback" not in live.stdout + live.stderr and live.returncode == 1


def test_doctor_reports_a_file_that_is_not_toml_once(env: dict[str, str], tmp_path: Path) -> None:
    home = Path(env["OPENKOI_HOME"])
    home.mkdir(parents=True)
    (home / "config.toml").write_text("model = \n", encoding="utf-8")
    done = openkoi(env, "doctor", cwd=tmp_path)
    assert done.returncode == 1
    fails = [line for line in done.stdout.splitlines() if line.startswith("fail")]
    assert len(fails) == 1 and fails[0].startswith(f"fail  config: {home / 'config.toml'}: not valid TOML"), fails


def _platform_env(env: dict[str, str], slack: FakeSlack, discord: FakeDiscord, telegram: FakeTelegram) -> None:
    env.update(
        SLACK_API_URL=slack.api_url,
        SLACK_SIGNING_SECRET="signing-secret",
        DISCORD_API_URL=discord.api_base,
        TELEGRAM_API_URL=telegram.base_url,
    )


def test_doctor_live_calls_each_model_once_and_asks_each_platform_who_it_is(
    env: dict[str, str], server: FakeModelServer, tmp_path: Path
) -> None:
    env["OPENKOI_MODELS__EVALUATOR"] = "openai/fake-small"
    with in_thread(FakeSlack()) as slack, in_thread(FakeDiscord()) as discord, in_thread(FakeTelegram()) as telegram:
        _platform_env(env, slack, discord, telegram)
        env.update(SLACK_BOT_TOKEN="xoxb-good", DISCORD_BOT_TOKEN="discord-good", TELEGRAM_BOT_TOKEN=telegram.token)
        done = openkoi(env, "doctor", "--live", cwd=tmp_path)
        auth_tests = [c.method for c in slack.calls]
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for model in ("openai/fake", "openai/fake-small"):
        assert any(line.startswith(f"ok    {model} answers (one-token call, ") for line in lines), lines
    assert sorted(r["model"] for r in server.requests) == ["fake", "fake-small"]
    assert all(r["max_tokens"] == 1 for r in server.requests)
    assert "ok    slack: auth.test accepts the token (bot openkoi, Fake Team)" in lines
    assert "ok    discord: /users/@me accepts the token (bot openkoi)" in lines
    assert f"ok    telegram: getMe accepts the token (@{telegram.username})" in lines
    assert auth_tests == ["auth.test"]


def test_doctor_live_reports_a_rejected_model_key_and_rejected_bot_tokens(
    env: dict[str, str], server: FakeModelServer, tmp_path: Path
) -> None:
    server.script.default("execute", Reply(status=401, error_message="invalid api key"))
    fakes = (FakeSlack(bot_token="xoxb-right"), FakeDiscord(token="right"), FakeTelegram())
    with in_thread(fakes[0]) as slack, in_thread(fakes[1]) as discord, in_thread(fakes[2]) as telegram:
        _platform_env(env, slack, discord, telegram)
        env.update(
            SLACK_BOT_TOKEN="xoxb-wrong", DISCORD_BOT_TOKEN="wrong-discord", TELEGRAM_BOT_TOKEN="42:wrong-telegram"
        )
        done = openkoi(env, "doctor", "--live", cwd=tmp_path)
    assert done.returncode == 1
    fails = [line for line in done.stdout.splitlines() if line.startswith("fail")]
    assert fails == [
        f"fail  openai/fake one-token call: model unavailable: {server.url} rejected the API key in OPENAI_API_KEY "
        "(HTTP 401: invalid api key)  — check the server, the key and the model name",
        "fail  slack: auth.test refused the token (invalid_auth)  — copy the bot token again from the platform's "
        "developer settings",
        "fail  discord: /users/@me refused the token (HTTP 401)  — copy the bot token again from the platform's "
        "developer settings",
        "fail  telegram: getMe refused the token (Unauthorized)  — copy the bot token again from the platform's "
        "developer settings",
    ], done.stdout
    assert len(server.requests) == 1, "one attempt: doctor does not retry"
    for token in ("xoxb-wrong", "wrong-discord", "wrong-telegram"):
        assert token not in done.stdout + done.stderr


def test_doctor_prints_the_discord_invite_link_made_from_the_token(env: dict[str, str], tmp_path: Path) -> None:
    from tests.platforms.discord.test_invite import APP_ID, TOKEN

    env["DISCORD_BOT_TOKEN"] = TOKEN
    done = openkoi(env, "doctor", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    discord = lines.index("ok    discord: credentials present")
    assert lines[discord + 1] == (
        f"ok    discord: invite the bot with https://discord.com/oauth2/authorize?client_id={APP_ID}"
        "&scope=bot%20applications.commands&permissions=309237647360"
    )
    assert TOKEN not in done.stdout + done.stderr
    env["DISCORD_BOT_TOKEN"] = "not-a-bot-token-shape"
    odd = openkoi(env, "doctor", cwd=tmp_path)
    assert odd.returncode == 0, odd.stdout
    assert (
        "warn  discord: the bot token is not shaped like one (id.timestamp.signature): no invite link"
        "  — copy the token again from the Developer Portal (Bot, Reset Token)"
    ) in odd.stdout.splitlines()
    assert "not-a-bot-token-shape" not in odd.stdout + odd.stderr
