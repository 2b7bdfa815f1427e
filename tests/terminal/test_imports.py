"""``openkoi --help`` and ``openkoi status`` must not import litellm (it costs seconds at start-up)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT, probe_command


@pytest.mark.parametrize("args", [["--help"], ["status"]], ids=["help", "status"])
def test_command_does_not_import_litellm(args: list[str], home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    probed = probe_command(args, ["litellm"], env)
    assert probed.code == 0, probed
    assert probed.imported == [], f"openkoi {' '.join(args)} imported litellm"


# The service's warm-up, then one real model call: what did the call still import?
FIRST_CALL_PROBE = """
import asyncio, json, sys
from tests.fakes.model_server import FakeModelServer
from tests.fakes.scripts import install_defaults
from core.llm.gateway import load_litellm, warm_up

async def main():
    model = FakeModelServer()
    install_defaults(model)
    await model.start()
    warm_up()
    before = set(sys.modules)
    await load_litellm().acompletion(
        model="openai/fake", messages=[{"role": "user", "content": "hi"}], api_base=model.url, api_key="x",
        max_tokens=20, timeout=30,
    )
    await model.stop()
    print(json.dumps(sorted(set(sys.modules) - before)))

asyncio.run(main())
"""


def test_warm_up_leaves_the_first_model_call_nothing_to_import(home: Path) -> None:
    """litellm's first ``completion`` imported ~90 modules (its proxy types, httpx's transports) while
    holding the GIL, stalling a serving event loop by ~0.3 s; the service's warm-up does that first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    done = subprocess.run(
        [sys.executable, "-c", FIRST_CALL_PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90
    )
    assert done.returncode == 0, done.stderr
    imported = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(imported) <= 3, imported
