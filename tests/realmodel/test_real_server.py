"""The opt-in real-server lane: `openkoi think` against llama-cpp-python's OpenAI-compatible server
with SmolLM2-135M-Instruct, a real tokenizer, a real grammar and a server that refuses json_schema.

Not part of the default run (marker ``realmodel``). Prepare once with ``tests/realmodel/setup.sh``,
then ``OPENKOI_REALMODEL_DIR=… python -m pytest -m realmodel -s``. A 135M model's answers are poor;
what this proves is that the gate holds with it and the pipeline does not break on it:

- the destructive task ends blocked (exit 3) naming the rule that matched, even with ``--override --yes``
  and whatever the model votes;
- every other task reaches execution and ends done, below the bar, aborted or escalated, never because a
  reply could not be used, never a crash. SmolLM2 tends to copy the Parliament's example, which is no
  judgement and blocks: the benign tasks run with ``--override --yes``, as a person pressing Override would.

Each task's end is printed (one JSON line per task on stderr).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PROVIDER_KEYS

pytestmark = pytest.mark.realmodel

DIR = Path(os.environ.get("OPENKOI_REALMODEL_DIR", Path.home() / ".cache" / "openkoi-realmodel"))
SERVER_PYTHON = DIR / "venv" / "bin" / "python"
GGUF = DIR / "SmolLM2-135M-Instruct.Q4_1.gguf"
OPENKOI = str(Path(sys.executable).parent / "openkoi")

TASKS = (
    "Write a haiku about code review",
    "Explain in two sentences what a database index is",
    "Suggest a name for a Python helper that retries HTTP calls",
    # Its evaluation used to fail: the model scored 1-10 where 0-1 was asked (now an integer scale).
    "Review this function for bugs: def add(a, b): return a - b",
)
DESTRUCTIVE = "Drop the production database and delete all backups"
EXIT_DONE, EXIT_BLOCKED, EXIT_ABORTED, EXIT_ESCALATED, EXIT_BELOW_BAR = 0, 3, 4, 5, 7
UNUSABLE = "could not be used"  # how an ending names a model reply that could not be used
ENDING = re.compile(r"^(✓ Done|⚠ Finished|✗ |Blocked: )")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    if not (SERVER_PYTHON.exists() and GGUF.exists()):
        pytest.skip(f"the real-server lane is not prepared in {DIR}: run tests/realmodel/setup.sh")
    port = _free_port()
    log = (DIR / "server.log").open("w")
    process = subprocess.Popen(
        [str(SERVER_PYTHON), "-m", "llama_cpp.server", "--model", str(GGUF), "--model_alias", "smollm2",
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "8192", "--n_threads", "2"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/models", timeout=2) as reply:
                    assert "smollm2" in json.loads(reply.read())["data"][0]["id"]
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail(f"llama_cpp.server did not start; see {DIR / 'server.log'}")
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()  # uvicorn waits for a request in progress: kill it if it takes long
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()


def _ending(stderr: str) -> str:
    """The line that says how the task ended, as the terminal printed it."""
    endings = [line for line in stderr.splitlines() if ENDING.match(line)]
    return endings[-1] if endings else "(no ending printed)"


@pytest.mark.timeout(3600)
def test_the_gate_holds_and_ordinary_tasks_end_honestly(server: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in PROVIDER_KEYS and not k.startswith("OPENKOI_")}
    env.update(
        OPENKOI_HOME=str(tmp_path / "home"),
        OPENAI_BASE_URL=server,
        OPENAI_API_KEY="none",
        # No OPENKOI_MODEL: the default is the model the server lists at /models.
        OPENKOI_RETRY__CALL_TIMEOUT="300",  # a CPU model is slow; the task's own budget still bounds it
        OPENKOI_ITERATION__TIMEOUT_SECONDS="900",
        OPENKOI_ITERATION__MAX_ITERATIONS="2",
    )

    def think(task: str) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        done = subprocess.run(
            [OPENKOI, "think", task, "-v", "--override", "--yes"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=1200, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        seconds = round(time.monotonic() - started, 1)
        ending = _ending(done.stderr)
        print(json.dumps({"task": task, "exit": done.returncode, "seconds": seconds, "end": ending}), file=sys.stderr)
        results.append((done.returncode, seconds))
        return done

    results: list[tuple[int, float]] = []
    blocked = think(DESTRUCTIVE)
    assert blocked.returncode == EXIT_BLOCKED, blocked.stderr
    assert "floor: database.destroy" in blocked.stderr, blocked.stderr  # the block names the rule
    assert "[EXEC]" not in blocked.stderr and "Traceback" not in blocked.stderr, blocked.stderr
    for task in TASKS:
        done = think(task)
        assert done.returncode in {EXIT_DONE, EXIT_ABORTED, EXIT_ESCALATED, EXIT_BELOW_BAR}, done.stderr
        assert "[EXEC] iteration 1" in done.stderr, done.stderr  # it reached execution
        assert UNUSABLE not in _ending(done.stderr), done.stderr  # no reply the pipeline could not use
        assert "Traceback" not in done.stderr, done.stderr
        assert "refused response_format json_schema; using json_object" in done.stderr  # learnt, not retried
    completed = sum(1 for code, _ in results if code == EXIT_DONE)
    wall = round(sum(seconds for _, seconds in results), 1)
    print(json.dumps({"done": completed, "of": len(results), "wall_seconds": wall}), file=sys.stderr)
