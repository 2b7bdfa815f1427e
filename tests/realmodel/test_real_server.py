"""The opt-in real-server lane: `openkoi think` against llama-cpp-python's OpenAI-compatible server
with SmolLM2-135M-Instruct, a real tokenizer, a real grammar and a server that refuses json_schema.

Not part of the default run (marker ``realmodel``). Prepare once with ``tests/realmodel/setup.sh``,
then ``OPENKOI_REALMODEL_DIR=… python -m pytest -m realmodel -s``. A 135M model's answers are poor;
what this proves is that every task reaches execution and ends as done, below the bar, aborted or
escalated — never blocked by a deliberation that could not happen, never a crash.
"""

from __future__ import annotations

import json
import os
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
)
EXIT_DONE, EXIT_ABORTED, EXIT_ESCALATED, EXIT_BELOW_BAR = 0, 4, 5, 7


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


@pytest.mark.timeout(3600)
def test_ordinary_tasks_reach_execution_and_end_honestly(server: str, tmp_path: Path) -> None:
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
    results: list[dict[str, str | int | float]] = []
    for task in TASKS:
        started = time.monotonic()
        done = subprocess.run(
            [OPENKOI, "think", task, "-v"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=1200
        )
        seconds = time.monotonic() - started
        results.append({"task": task, "exit": done.returncode, "seconds": round(seconds, 1)})
        print(json.dumps(results[-1]), file=sys.stderr)
        assert done.returncode in {EXIT_DONE, EXIT_ABORTED, EXIT_ESCALATED, EXIT_BELOW_BAR}, done.stderr
        assert "[EXEC] iteration 1" in done.stderr, done.stderr  # it reached execution
        assert "Blocked" not in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert "refused response_format json_schema; using json_object" in done.stderr  # learnt, not retried
    completed = sum(1 for r in results if r["exit"] == EXIT_DONE)
    wall = round(sum(float(r["seconds"]) for r in results), 1)
    print(json.dumps({"completed": completed, "of": len(results), "wall_seconds": wall}), file=sys.stderr)
