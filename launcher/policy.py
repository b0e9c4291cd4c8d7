"""What a bundle may write, decided from names and numbers alone (CONTRACT.md, L1.7, L2).

Pure functions and counters, no disk: the extraction (extract.py) asks them about each
member before libarchive writes it.

- refused: absolute names, '..', names longer than a path may be, devices, FIFOs and
  sockets, symlinks that lead out of the root;
- capped: members (the directories they are in count too) and bytes;
- dropped: setuid and setgid bits, and any mode that would leave a file unusable by its owner;
- left out: virtual environments, __pycache__ folders, and what macOS adds.
"""

from __future__ import annotations

import os
import posixpath
import stat
from pathlib import Path

from .errors import EX_BUNDLE, LauncherError
from .log import quoted, shown

# The longest path the kernel takes (PATH_MAX, its final NUL aside): a member's path under
# the working directory may be no longer, or the job could not open it.
PATH_MAX = 4095
# Left out of every bundle (L1.7): virtual environments (by these names, or any folder
# holding pyvenv.cfg), bytecode caches, and what macOS adds to archives (__MACOSX, ._*).
VENV_NAMES = frozenset({b".venv", b"venv"})
VENV_MARK = b"pyvenv.cfg"
CACHE_NAME = b"__pycache__"
MACOSX_NAME = b"__MACOSX"
APPLE_DOUBLE = b"._"
# Entry types that are never extracted.
REFUSED_TYPES = {
    stat.S_IFCHR: "device or FIFO",
    stat.S_IFBLK: "device or FIFO",
    stat.S_IFIFO: "device or FIFO",
    stat.S_IFSOCK: "socket",
}


class LeftOut:
    """What a bundle holds that is left out of the working directory (L1.7), and why."""

    def __init__(self) -> None:
        self.venvs: set[bytes] = set()
        self.caches: set[bytes] = set()
        self.apple_double = 0
        self.macosx = False

    def skips(self, path: bytes) -> bool:
        """Whether the entry at path (relative, normalized) is left out; notes why."""
        if self.venvs and any(path == venv or path.startswith(venv + b"/") for venv in self.venvs):
            return True
        if b"venv" not in path and b"__" not in path and b"._" not in path:
            return False
        parts = path.split(b"/")
        for depth, part in enumerate(parts, 1):
            if part in VENV_NAMES:
                self.venvs.add(b"/".join(parts[:depth]))
                return True
            if part == CACHE_NAME:
                self.caches.add(b"/".join(parts[:depth]))
                return True
            if part == MACOSX_NAME:
                self.macosx = True
                return True
        if parts[-1].startswith(APPLE_DOUBLE):
            self.apple_double += 1
            return True
        return False

    def found(self) -> bool:
        return bool(self.venvs or self.caches or self.apple_double or self.macosx)

    def describe(self) -> str:
        venvs = sorted(self.venvs)
        found = [f"{shown(venv + b'/')} (a virtual environment)" for venv in venvs[:5]]
        if len(venvs) > 5:
            found.append(f"{len(venvs) - 5} more virtual environments")
        if self.caches:
            found.append(f"{len(self.caches)} __pycache__ folder{'s' if len(self.caches) > 1 else ''}")
        if self.macosx:
            found.append("__MACOSX/")
        if self.apple_double:
            found.append(f"{self.apple_double} macOS ._ file{'s' if self.apple_double > 1 else ''}")
        return ", ".join(found) + "; the image provides the environment, and the job makes its own caches"


def leaves(path: bytes) -> bool:
    """Whether a relative path climbs above where it starts."""
    normal = posixpath.normpath(path)
    return normal == b".." or normal.startswith(b"../")


def name_refusal(name: bytes, longest: int) -> str | None:
    """Why a member's name alone is refused, or None: before anything else looks at it."""
    if not name:
        return "it has no name"
    if name.startswith(b"/"):
        return "absolute path"
    if b".." in name and b".." in name.split(b"/"):
        return "'..' in its path"
    if len(name) > longest:
        return f"its path is longer than a path may be here ({longest} bytes)"
    return None


def normal_path(name: bytes) -> bytes:
    """Where a member lands, as libarchive normalizes its name (`./a/`, `a//b/.`)."""
    path = name[2:] if name.startswith(b"./") else name
    if b"//" in path or b"/." in path or path.startswith(b".") or path.endswith(b"/"):
        path = posixpath.normpath(path)
    return path


def symlink_refusal(path: bytes, target: bytes) -> str | None:
    """Why a symlink at path to target is refused as it is written, or None (the links made after
    it are checked at the end, when all exist)."""
    if target.startswith(b"/"):
        return f"symlink to absolute path {quoted(target)}"
    # From where the link lands: `sub/.` is made as `sub`.
    if leaves(posixpath.join(posixpath.dirname(path), target)):
        return f"symlink to {quoted(target)} points outside the bundle"
    return None


def hardlink_refusal(link: bytes) -> str | None:
    """Why a hardlink to link is refused from the name alone, or None (what it names is looked
    at beneath the root: it must be a member made before it, and not a symlink)."""
    if link.startswith(b"/") or b".." in link.split(b"/"):
        return f"hardlink to {quoted(link)} points outside the bundle"
    return None


def usable_mode(perm: int, is_dir: bool) -> int:
    """The archive's mode without setuid and setgid, and always usable by its owner."""
    return (perm & 0o1777) | (0o700 if is_dir else 0o600)


def longest_path(root: Path) -> int:
    """The longest member path that keeps root/path within what the kernel takes."""
    return PATH_MAX - len(os.fsencode(root)) - 1


class Caps:
    """Counts the members and the bytes a bundle writes, against the caps."""

    def __init__(self, source: Path, max_members: int, max_bytes: int) -> None:
        self.source = source
        self.max_members = max_members
        self.max_bytes = max_bytes
        self.members = 0
        self.bytes = 0
        self.directories: set[bytes] = set()  # made so far, by a member or on the way to one

    def member(self) -> None:
        self.members += 1
        if self.members > self.max_members:
            raise LauncherError(
                EX_BUNDLE,
                f"{self.source}: more than {self.max_members} members, counting the directories they are in "
                "(limit: LAUNCHER_MAX_MEMBERS)",
            )

    def count(self, path: bytes, is_dir: bool) -> None:
        """Count a member, and each directory it is in that no member before it made: a single
        member with a long name would otherwise make thousands of directories."""
        self.member()
        if is_dir:
            self.directories.add(path)
        parent = path.rpartition(b"/")[0]
        while parent and parent not in self.directories:
            self.directories.add(parent)
            self.member()
            parent = parent.rpartition(b"/")[0]

    def add(self, size: int, name: bytes) -> None:
        self.bytes += size
        if self.bytes > self.max_bytes:
            raise LauncherError(
                EX_BUNDLE,
                f"{self.source}: content exceeds {self.max_bytes} bytes at {quoted(name)} (limit: LAUNCHER_MAX_BYTES)",
            )
