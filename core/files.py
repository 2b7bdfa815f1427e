"""Owner-only files and directories, whatever the umask.

openkoi's data directory holds every task, saved outputs, tool output and Slack ``response_url``s;
none of it is anyone else's business on a shared machine. Directories are 0700 and files 0600:
set explicitly (``mkdir``'s and ``open``'s modes are filtered by the umask, which only ever removes
bits, so creating with the private mode is enough for new paths; existing ones are tightened).
Writes go to a temporary file that is renamed over the target, so a reader (or a crash) never
sees half a file. openkoi never writes its config file or any credential; those are the operator's.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and any missing parents, which are ours too) as 0700; tighten it if it exists."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # created meanwhile by another process: tightened below
            directory.mkdir(mode=DIR_MODE)
        tighten(directory, DIR_MODE)
    tighten(path, DIR_MODE)
    return path


def tighten(path: Path, mode: int) -> None:
    """Remove group and other permissions from ``path`` if it has any; a path we do not own is logged."""
    try:
        current = stat.S_IMODE(path.stat().st_mode)
        if current & 0o077:
            os.chmod(path, (current | mode) & 0o700)
    except FileNotFoundError:
        return
    except PermissionError:
        log.warning("cannot make %s private (owner-only): not its owner", path)


def private_file(path: Path) -> Path:
    """Create ``path`` empty as 0600 if missing (its directory made private), or tighten it if it exists.

    For files another library writes, such as the SQLite database: SQLite creates its -wal and
    -shm files with the database file's permissions, so a 0600 database keeps them 0600 too.
    """
    private_dir(path.parent)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0), FILE_MODE)
    os.close(fd)
    tighten(path, FILE_MODE)
    return path


def write_private(path: Path, text: str) -> Path:
    """Atomically replace ``path`` with ``text`` (UTF-8) as a 0600 file in a 0700 directory.

    Atomic against a crash of the process (readers see the old file or the new one); not fsynced,
    since what is written here (outputs, tool output) is a copy of what SQLite already holds.
    """
    private_dir(path.parent)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mkstemp: 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return path
