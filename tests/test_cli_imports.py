"""``openkoi --help`` and ``openkoi status`` must not import litellm (it costs seconds at start-up)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Runs the command in-process in a fresh interpreter, then reports what it imported.
PROBE = """
import json, sys
from bots.terminal.cli import cli
try:
    code = cli.main(sys.argv[1:], standalone_mode=False)
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code or 0, "litellm": "litellm" in sys.modules}))
"""


@pytest.mark.parametrize("args", [["--help"], ["status"]], ids=["help", "status"])
def test_command_does_not_import_litellm(args: list[str], home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["code"] == 0, done.stdout + done.stderr
    assert report["litellm"] is False, f"openkoi {' '.join(args)} imported litellm"
