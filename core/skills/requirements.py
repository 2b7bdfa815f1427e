"""What a skill needs from the machine it runs on: programs on PATH, environment variables, an OS.

A skill whose requirements are not met is *ineligible*: never chosen for a task, and refused when
asked for by name, with what is missing. Read from ``requires``/``os`` at the top level, under
``metadata``, or under ``metadata.openclaw`` (OpenClaw's place for them, also spelt ``clawdbot``,
``clawdis`` or ``moltbot``).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# Spellings people use for the platforms OpenClaw names darwin, linux and win32.
_OS_ALIASES = {"macos": "darwin", "mac": "darwin", "osx": "darwin", "windows": "win32", "win": "win32"}


def os_name(value: str) -> str:
    name = value.strip().lower()
    return _OS_ALIASES.get(name, name)


@dataclass(frozen=True)
class Requirements:
    bins: tuple[str, ...] = ()
    any_bins: tuple[str, ...] = ()  # at least one of these
    env: tuple[str, ...] = ()
    os: tuple[str, ...] = ()  # any of these; none: every OS

    def merged(self, other: Requirements) -> Requirements:
        """Both sets together (a skill may state some at the top level and some under metadata)."""
        return Requirements(
            self.bins + other.bins, self.any_bins + other.any_bins, self.env + other.env, self.os + other.os
        )

    def missing(
        self,
        *,
        which: Callable[[str], str | None] = shutil.which,
        environ: Mapping[str, str] | None = None,
        platform: str | None = None,
    ) -> list[str]:
        """What this machine lacks, in words ("program gh", "environment variable GH_TOKEN"); empty: eligible."""
        environ = os.environ if environ is None else environ
        here = os_name(platform or sys.platform)
        lacking = [f"program {b}" for b in self.bins if which(b) is None]
        if self.any_bins and all(which(b) is None for b in self.any_bins):
            lacking.append(f"one of the programs {', '.join(self.any_bins)}")
        lacking += [f"environment variable {name}" for name in self.env if not environ.get(name)]
        if self.os and here not in {os_name(o) for o in self.os}:
            lacking.append(f"OS {' or '.join(self.os)} (this is {here})")
        return lacking
