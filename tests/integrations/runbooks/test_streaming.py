"""A runbook's output reaches the caller as it arrives, in order, decoded and redacted; only the first
``max_output_bytes`` are kept, and the result says how much was cut."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from integrations.runbooks import process
from tests.integrations.runbooks.support import Sink, python
from tests.support import registered_secret

# The command waits (up to 10 s) for a file the sink creates when it has seen a text: the only way the
# command can go on at once is that the text was streamed while the command still ran.
WAIT_FOR = """
import os, sys, time
def wait(path):
    for _ in range(1000):
        if os.path.exists(path):
            return 'streamed'
        time.sleep(0.01)
    return 'not streamed'
"""


async def test_output_is_streamed_while_the_command_runs(tmp_path: Path) -> None:
    flag = tmp_path / "seen"
    script = WAIT_FOR + f"print('first', flush=True)\nprint(wait({str(flag)!r}))\n"
    sink = Sink({"first\n": flag})
    result = await python(script).run({}, sink)
    assert result == "exit 0\nfirst\nstreamed"
    assert sink.chunks == ["first\n", "streamed\n"]


async def test_a_partial_line_is_streamed_after_a_pause(tmp_path: Path) -> None:
    flag = tmp_path / "seen"
    script = WAIT_FOR + f"sys.stdout.write('progress: 40%'); sys.stdout.flush()\nprint(' ' + wait({str(flag)!r}))\n"
    sink = Sink({"progress: 40%": flag})
    assert await python(script).run({}, sink) == "exit 0\nprogress: 40% streamed"
    assert sink.chunks == ["progress: 40%", " streamed\n"]


async def test_stdout_and_stderr_arrive_interleaved_in_the_order_written() -> None:
    script = (
        "import sys, time\n"
        "for i in range(3):\n"
        "    print('out', i, flush=True); time.sleep(0.02)\n"
        "    print('err', i, file=sys.stderr, flush=True); time.sleep(0.02)\n"
    )
    sink = Sink()
    result = await python(script).run({}, sink)
    expected = "out 0\nerr 0\nout 1\nerr 1\nout 2\nerr 2\n"
    assert sink.text == expected
    assert result == "exit 0\n" + expected.rstrip("\n")
    assert all(chunk.endswith("\n") for chunk in sink.chunks), "whole lines, not arbitrary cuts"


async def test_output_is_decoded_as_utf8_with_replacement_even_split_across_reads() -> None:
    script = (
        "import sys, time\n"
        "sys.stdout.buffer.write(b'caf\\xc3'); sys.stdout.flush(); time.sleep(0.1)\n"
        "sys.stdout.buffer.write(b'\\xa9 \\xff\\n'); sys.stdout.flush()\n"
    )
    sink = Sink()
    assert await python(script).run({}, sink) == "exit 0\ncafé \ufffd"
    assert sink.text == "café \ufffd\n"


@pytest.fixture
def secret() -> Iterator[str]:
    with registered_secret("sk-live-0123456789abcdef") as value:
        yield value


async def test_a_registered_secret_is_redacted_in_the_stream_and_the_result(secret: str) -> None:
    half = len(secret) // 2
    # Written in two halves with a pause between: a stream cut between them would let both halves through.
    script = (
        "import sys, time\n"
        f"sys.stdout.write('key=' + {secret[:half]!r}); sys.stdout.flush(); time.sleep(0.1)\n"
        f"print({secret[half:]!r} + ' done', flush=True)\n"
        f"print({secret!r}, file=sys.stderr, flush=True)\n"
    )
    sink = Sink()
    result = await python(script).run({}, sink)
    assert result == "exit 0\nkey=[redacted] done\n[redacted]"
    assert sink.text == "key=[redacted] done\n[redacted]\n"
    assert secret[:half] not in sink.text and secret[half:] not in sink.text


async def test_only_the_first_max_output_bytes_are_kept_and_the_result_says_how_much_was_cut() -> None:
    # 1.8 MB, far more than a pipe holds: the command is drained to its end, not left blocked on a full pipe.
    script = "import sys\nfor i in range(20_000):\n    sys.stdout.write(str(i).zfill(9) + 'x' * 80 + '\\n')\n"
    written = "".join(str(i).zfill(9) + "x" * 80 + "\n" for i in range(20_000))
    sink = Sink()
    result = await python(script, max_output_bytes=1_000).run({}, sink)
    assert result == (
        "exit 0\n" + written[:1_000] + "\n[1,799,000 more bytes of output were cut after the first 1,000]"
    )
    assert sink.text == written[:1_000] + "\n[output past 1,000 bytes is cut]\n", "what is dropped is not streamed"


async def test_a_sink_that_fails_does_not_stop_the_runbook() -> None:
    calls: list[str] = []

    async def broken(text: str) -> None:
        calls.append(text)
        raise RuntimeError("chat is down")

    result = await python("import time\nprint('one', flush=True); time.sleep(0.1); print('two')").run({}, broken)
    assert result == "exit 0\none\ntwo"
    assert calls == ["one\n"], "after the first failure the sink is left alone"


async def test_a_slow_sink_gets_everything_in_order_and_the_result_is_complete() -> None:
    script = "import time\nfor i in range(30):\n    print('line', i, flush=True); time.sleep(0.005)\n"
    received: list[str] = []

    async def slow(text: str) -> None:
        await asyncio.sleep(0.03)
        received.append(text)

    lines = [f"line {i}" for i in range(30)]
    assert await python(script).run({}, slow) == "exit 0\n" + "\n".join(lines)
    assert "".join(received) == "".join(line + "\n" for line in lines)


async def test_a_sink_that_never_returns_does_not_hold_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(process, "STREAM_GRACE_SEC", 0.5)
    stuck = asyncio.Event()

    async def hanging(text: str) -> None:
        await stuck.wait()

    begun = time.monotonic()
    assert await python("print('one'); print('two')").run({}, hanging) == "exit 0\none\ntwo"
    assert time.monotonic() - begun < 4.0
