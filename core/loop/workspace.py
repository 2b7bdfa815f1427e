"""The workspace: the one directory tree the agent's file tools may see, and what stays private inside it.

A path is readable only when, after resolving every symlink, it lies under the workspace root and
none of these holds for it:

* a path component (as asked, or as resolved) starts with ``.`` — dotfiles and dot directories
  (``.env``, ``.git``, ``.ssh``) hold credentials far more often than code;
* a component matches a key, credential or database name (``PRIVATE_NAMES``);
* it lies under openkoi's own config or data directory (the database holds every task and
  Slack ``response_url``; the config holds tokens), or under ``/proc``, ``/sys`` or ``/dev``
  (``/proc/self/environ`` is the process's every secret);
* it is a regular file with more than one hard link: another name for it may live anywhere,
  so it counts as outside.

Callers may rely on ``resolve`` raising ``OutsideWorkspace`` or ``PrivatePath`` (both ValueError)
rather than returning such a path, and on ``open_text`` re-checking the opened file itself, so a
path swapped for a symlink or a FIFO between the check and the open is refused too.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError

# Lower-cased shell patterns; a component matching any of them is never read nor listed.
PRIVATE_NAMES = (
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "id_*",
    "credentials*",
    "*.db",
    "*.db-*",  # SQLite's -wal, -shm and -journal files hold the same rows as the database
    "*.sqlite",
    "*.sqlite3",
)
# Kernel and device trees: reading them leaks the process's environment or blocks forever.
SYSTEM_TREES = (Path("/proc"), Path("/sys"), Path("/dev"))
MAX_READ_BYTES = 10_000_000  # larger files are cut: the model could not use more, memory could


def workspace_root(path: Path, source: str) -> Path:
    """``path`` (``~`` expanded) resolved, when it is a directory the file tools may be given; raises
    ConfigError naming ``source`` (the flag or setting that chose it) when it is not. The one check
    of a configured workspace: ``openkoi think``, ``serve`` and ``doctor`` all make it."""
    root = path.expanduser()
    if not root.is_dir():
        raise ConfigError(f"{source}: {root} is not a directory")
    return root.resolve()


class OutsideWorkspace(ValueError):
    """The path leaves the workspace (``..``, an absolute path, a symlink or a hard link)."""


class PrivatePath(ValueError):
    """The path is inside the workspace but private (dotfile, key, credential, database, openkoi's own files)."""


def _is_private_name(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith(".") or any(fnmatch.fnmatchcase(lowered, pattern) for pattern in PRIVATE_NAMES)


def _under(path: Path, tree: Path) -> bool:
    return path == tree or tree in path.parents


@dataclass(frozen=True)
class Workspace:
    """A resolved workspace root and the trees that stay private even if they lie inside it."""

    root: Path
    private_trees: tuple[Path, ...] = ()

    @classmethod
    def at(cls, root: Path, private: Iterable[Path] = ()) -> Workspace:
        """The workspace at ``root``; ``private`` are openkoi's config and data directories."""
        trees = tuple(Path(p).expanduser().resolve() for p in private) + SYSTEM_TREES
        return cls(Path(root).expanduser().resolve(), trees)

    def resolve(self, relative: str) -> Path:
        """The real path of ``relative`` (relative to the root, or absolute) if it may be read or listed."""
        asked = Path(os.path.normpath(self.root / relative))
        target = (self.root / relative).resolve()
        if not _under(target, self.root) or not _under(asked, self.root):
            raise OutsideWorkspace(f"'{relative}' is outside the workspace")
        self._check(asked, relative)
        self._check(target, relative)
        if target.is_file() and target.stat().st_nlink > 1:
            raise OutsideWorkspace(f"'{relative}' is outside the workspace (a hard link)")
        return target

    def _check(self, path: Path, shown: str) -> None:
        if any(_is_private_name(part) for part in path.relative_to(self.root).parts):
            raise PrivatePath(f"'{shown}' is private: dotfiles, keys, credentials and databases are never read")
        if any(_under(path, tree) for tree in self.private_trees):
            raise PrivatePath(f"'{shown}' is private: openkoi's own files and system trees are never read")

    def visible(self, path: Path) -> bool:
        """True when ``resolve`` would accept ``path`` (an absolute path found by walking the tree)."""
        try:
            self.resolve(str(path))
        except ValueError:
            return False
        return True

    def open_text(self, relative: str) -> str:
        """The text of a readable regular file (decoded as UTF-8, invalid bytes replaced).

        The file is opened without following a final symlink and without blocking, then checked
        again through its descriptor: it must be the very file that was checked, regular, and
        have one link. Raises ``FileNotFoundError`` when there is no file, ValueError when refused.
        """
        target = self.resolve(relative)
        before = target.stat()
        if not stat.S_ISREG(before.st_mode):
            raise FileNotFoundError(relative)
        fd = os.open(target, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            now = os.fstat(handle.fileno())
            if (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino) or not stat.S_ISREG(now.st_mode):
                raise OutsideWorkspace(f"'{relative}' changed while it was being opened")
            if now.st_nlink > 1:
                raise OutsideWorkspace(f"'{relative}' is outside the workspace (a hard link)")
            data = handle.read(MAX_READ_BYTES + 1)
        text = data[:MAX_READ_BYTES].decode("utf-8", errors="replace")
        if len(data) > MAX_READ_BYTES:
            text += f"\n[file cut at {MAX_READ_BYTES:,} bytes]"
        return text

    def walk(self, base: Path) -> Iterator[Path]:
        """Readable regular files under ``base`` (already resolved), sorted, never entering a private
        or symlinked directory; hidden and private entries are not even named."""
        for directory, dirs, files in os.walk(base):
            here = Path(directory)
            # Pruned in place so os.walk never descends into them (os.walk does not follow links).
            dirs[:] = sorted(d for d in dirs if not _is_private_name(d) and self.visible(here / d))
            for name in sorted(files):
                path = here / name
                if not _is_private_name(name) and self.visible(path) and path.is_file():
                    yield path
