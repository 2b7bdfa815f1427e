"""``openkoi webhooks list|deliveries|redeliver|enable|secret`` through click's CliRunner, over an outbox that real
deliveries to a receiver on 127.0.0.1 filled: a 410-disabled endpoint said so and enabled again, every attempt
listed, a failed delivery made due again, the shorthand's generated secret printed (the one it signs with)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from click.testing import CliRunner

from bots.config import load_service_settings
from bots.terminal.cli import cli
from core.config import load_settings
from core.store import Store
from integrations.webhooks.outgoing import shorthand_secret
from tests.chat_service import wait_until
from tests.integrations.webhooks.receiver import HOOK_PATH, Receiver
from tests.integrations.webhooks.support import SECRET, finished, running_hooks


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["webhooks", *args])
    return result.exit_code, result.stdout, result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def configure(home: Path, *entries: tuple[str, int], extra: str = "") -> None:
    home.mkdir(parents=True, exist_ok=True)
    text = "".join(
        f'[[webhooks]]\nname = "{name}"\nurl = "http://127.0.0.1:{port}{HOOK_PATH}?token=abc"\nsecret = "{SECRET}"\n'
        f'events = ["task.done"]\n\n'
        for name, port in entries
    )
    (home / "config.toml").write_text(text + extra, encoding="utf-8")


async def deliver(status_by_port: dict[int, int]) -> None:
    """Run the configured webhooks once: one task.done, each receiver answering its status, until all settle."""
    service = load_service_settings()
    receivers = [Receiver(default=status, port=port) for port, status in status_by_port.items()]
    for receiver in receivers:
        await receiver.start()
    try:
        async with Store(load_settings().db_path) as store:
            delivery = service.webhook_delivery.model_dump()
            async with running_hooks(store, service.webhooks, delivery) as (_, bus):
                await bus.publish(finished("9b3a1650aa"))

                async def settled() -> bool:
                    return all(d.status not in ("pending", "sending") for d in await store.webhooks.recent())

                await wait_until(settled)
    finally:
        for receiver in receivers:
            await receiver.stop()


FAST_TOML = "[webhook_delivery]\nretry_schedule = [0, 0.05, 0.05]\njitter = 0\npoll_seconds = 0.1\n"


def test_list_says_which_endpoint_a_410_disabled_and_enable_turns_it_back_on(home: Path) -> None:
    ok, gone = free_port(), free_port()
    configure(home, ("ci", ok), ("old", gone), extra=FAST_TOML)
    asyncio.run(deliver({ok: 204, gone: 410}))
    code, out, _ = invoke("list")
    assert code == 0, out
    assert f"ci  http://127.0.0.1:{ok}{HOOK_PATH}?…  enabled\n  events: task.done\n  deliveries: 1 delivered\n" in out
    assert "token=abc" not in out, "a query string may hold a credential: not listed"
    assert f"old  http://127.0.0.1:{gone}{HOOK_PATH}?…  DISABLED since " in out
    assert "(HTTP 410 Gone); `openkoi webhooks enable old` turns it back on" in out
    assert "  deliveries: 1 gone\n  last attempt: " in out and "HTTP 410" in out

    code, out, _ = invoke("enable", "old")
    assert code == 0 and out == "old: enabled; openkoi serve sends it what is pending and every new event it wants.\n"
    assert "DISABLED" not in invoke("list")[1]
    assert invoke("enable", "old")[1] == "old is enabled already.\n"
    code, _, err = invoke("enable", "nope")
    assert code == 2 and "no webhook endpoint 'nope'" in err


def test_deliveries_list_every_attempt_and_redeliver_makes_one_due_again(home: Path) -> None:
    port = free_port()
    configure(home, ("ci", port), extra=FAST_TOML)
    asyncio.run(deliver({port: 500}))
    code, out, _ = invoke("deliveries", "-n", "5")
    assert code == 0, out
    lines = out.splitlines()
    assert "task.done → ci  failed, 3 attempts" in lines[0] and lines[0].endswith("task 9b3a1650")
    assert [line.split()[0] for line in lines[1:]] == ["#1", "#2", "#3"]
    assert "HTTP 500" in lines[1] and "failed: HTTP 500 answer 500" in lines[1]
    delivery_id = lines[0].split()[0]

    code, out, _ = invoke("redeliver", delivery_id[:6])
    assert code == 0, out
    assert "task.done → ci  pending (due now), 3 attempts" in out and "will be sent again by openkoi serve" in out
    assert invoke("deliveries", "--endpoint", "other")[1] == "No webhook deliveries to other yet.\n"
    code, _, err = invoke("redeliver", "ffffffffffff")
    assert code == 2 and "no webhook delivery 'ffffffffffff'" in err


def test_redeliver_refuses_a_disabled_endpoint_until_it_is_enabled(home: Path) -> None:
    port = free_port()
    configure(home, ("ci", port), extra=FAST_TOML)
    asyncio.run(deliver({port: 410}))
    delivery_id = invoke("deliveries")[1].split()[0]
    code, _, err = invoke("redeliver", delivery_id)
    assert code == 2 and "endpoint ci is disabled (HTTP 410 Gone); `openkoi webhooks enable ci` first" in err
    invoke("enable", "ci")
    assert invoke("redeliver", delivery_id)[0] == 0


def test_secret_prints_the_shorthands_generated_secret_the_one_it_signs_with(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        '[api.webhooks]\non_task_complete = "https://example.com/done"\n', encoding="utf-8"
    )
    code, out, _ = invoke("secret")
    assert code == 0 and out.startswith("whsec_")
    assert invoke("secret")[1] == out, "made once, then the same"

    async def used() -> str | None:
        async with Store(load_settings().db_path) as store:
            return await shorthand_secret(store, load_service_settings().api.webhooks)

    assert asyncio.run(used()) == out.strip()
    assert "on_task_complete  https://example.com/done  enabled" in invoke("list")[1]


def test_with_nothing_configured_list_says_how_to_configure(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text("", encoding="utf-8")
    assert invoke("list") == (
        0,
        "No webhooks configured: add [[webhooks]] url, secret and events to config.toml.\n",
        "",
    )
    code, _, err = invoke("secret")
    assert code == 2 and "no [api.webhooks] shorthand is configured" in err
