"""Start-up time of ``openkoi --help`` and ``openkoi status``, and proof that neither imports litellm.

Each command runs 10 times as a fresh interpreter (``python -c "from bots.terminal.cli import
main; main()" <args>``, what the ``openkoi`` console script does) with a temporary OPENKOI_HOME and
no provider credentials in the environment; the median and the maximum wall time are reported.
A separate interpreter then runs each command in-process (``cli.main(args, standalone_mode=False)``)
and reports whether ``litellm`` ended up in ``sys.modules``.

When a command misses the 300 ms target, ``python -X importtime`` is run once for it and the
import time per package is printed on stderr and added as ``slow_imports``.

    python -m tests.benchmarks.cli_startup [--runs 10] [--tiny]

``--tiny`` (one timed run of each) runs the same scenario for the default test suite's smoke test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.benchmarks._common import check, clean_env, emit, note

RUNS = 10
TINY_RUNS = 1
TARGET_MS = 300.0
ROOT = Path(__file__).resolve().parents[2]
ENTRY = "from bots.terminal.cli import main; main()"
PROBE = """
import json, sys
from bots.terminal.cli import cli
try:
    cli.main(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
print(json.dumps({"litellm": "litellm" in sys.modules}))
"""


def launch(args: list[str], env: dict[str, str], extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *extra, "-c", ENTRY, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def timed(args: list[str], env: dict[str, str], runs: int) -> list[float]:
    launch(args, env)  # warm the file-system cache and the .pyc files; not counted
    times: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        done = launch(args, env)
        times.append((time.perf_counter() - started) * 1000)
        check(done.returncode == 0, f"{args}: exit {done.returncode}: {done.stderr[-500:]}")
    return times


def imports_litellm(args: list[str], env: dict[str, str]) -> bool:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    check(done.returncode == 0, f"in-process {args}: exit {done.returncode}: {done.stderr[-500:]}")
    return bool(json.loads(done.stdout.strip().splitlines()[-1])["litellm"])


def slow_imports(args: list[str], env: dict[str, str], top: int = 10) -> list[str]:
    """Where import time goes, from ``python -X importtime``: self time summed per package.

    Third-party packages are grouped by their top-level name (``pydantic``, ``asyncio`` …); this
    project's modules by their first two components (``core.config``, ``core.outputs`` …).
    """
    done = launch(args, env, ("-X", "importtime"))
    by_package: dict[str, int] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, _, name = (part.strip() for part in line.split(":", 1)[1].split("|"))
        parts = name.split(".")
        key = ".".join(parts[:2]) if parts[0] in {"core", "bots"} else parts[0]
        by_package[key] = by_package.get(key, 0) + int(self_us)
    ranked = sorted(by_package.items(), key=lambda item: item[1], reverse=True)[:top]
    total = sum(by_package.values())
    return [f"total imports {total / 1000:.0f} ms"] + [f"{name} {us / 1000:.0f} ms" for name, us in ranked]


def run(runs: int = RUNS) -> dict[str, object]:
    """Time ``runs`` fresh starts of each command and probe what they import (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="openkoi-bench-cli-") as tmp:
        env = clean_env(Path(tmp) / "home")
        help_ms = timed(["--help"], env, runs)
        status_ms = timed(["status"], env, runs)
        result: dict[str, object] = {
            "bench": "cli_startup",
            "runs": runs,
            "help_ms_median": round(statistics.median(help_ms), 1),
            "help_ms_max": round(max(help_ms), 1),
            "status_ms_median": round(statistics.median(status_ms), 1),
            "status_ms_max": round(max(status_ms), 1),
            "litellm_imported_by_help": imports_litellm(["--help"], env),
            "litellm_imported_by_status": imports_litellm(["status"], env),
        }
        slow: dict[str, list[str]] = {}
        for name, args, times in (("help", ["--help"], help_ms), ("status", ["status"], status_ms)):
            if statistics.median(times) > TARGET_MS:
                slow[name] = slow_imports(args, env)
                note(f"{name} misses {TARGET_MS:.0f} ms; largest imports: " + ", ".join(slow[name]))
        if slow:
            result["slow_imports"] = slow
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=RUNS, help="timed starts of each command")
    parser.add_argument("--tiny", action="store_true", help=f"{TINY_RUNS} timed start of each command")
    args = parser.parse_args(argv)
    emit(run(TINY_RUNS if args.tiny else args.runs))


if __name__ == "__main__":
    main()
