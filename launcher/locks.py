"""The kinds of plan, and the locks the launcher installs exactly, one record each (CONTRACT.md, L3.3, L3.8).

A lock's record says which files are one, the manifest it locks, the tool that checks
and exports it, and how to make it again. Detection, the check of a lock's outline, the
install's commands and the failure lines all read it from here: a new kind of lock is a
record here (and, if a tool of its own exports it, that tool's commands in commands.py).
"""

from __future__ import annotations

import enum
import re

from .errors import EX_CONFIG


class Kind(enum.StrEnum):
    """What a plan installs."""

    NOTHING = "nothing"
    REQUIREMENTS = "requirements"  # requirements, or `-r FILE`, for `pip install`
    PROJECT = "project"  # the project itself, built
    UV_LOCK = "uv.lock"
    POETRY_LOCK = "poetry.lock"
    PIPFILE_LOCK = "Pipfile.lock"
    PYLOCK = "pylock"  # PEP 751's pylock.toml and pylock.NAME.toml


class Lock:
    """One kind of lock.

    manifest is the file it locks, which must be beside it (None: the lock stands alone);
    tool checks it against the manifest and exports its pins ("": uv installs the lock as
    it is); check is that check as a user runs it, and relock how to make the lock again;
    selection says where its extras and groups are declared: "pyproject", "pipfile", or
    "lock" (in the lock itself).
    """

    __slots__ = ("check", "kind", "manifest", "names", "relock", "selection", "tool")

    def __init__(
        self, kind: Kind, names: str, manifest: str | None, tool: str, check: str, relock: str, selection: str
    ) -> None:
        self.kind = kind
        self.names = re.compile(names)
        self.manifest = manifest
        self.tool = tool
        self.check = check
        self.relock = relock
        self.selection = selection

    @property
    def exported(self) -> bool:
        """Whether its tool exports its pins for uv to install (else uv reads the lock itself)."""
        return bool(self.tool)

    def check_failures(self) -> tuple:
        """What a failed check of the lock means: it cannot be read, or it no longer matches its manifest."""
        redo = f"run `{self.relock}` and bundle again"
        return (
            (
                r"Failed to parse|Unable to parse|not a valid|JSONDecodeError",
                EX_CONFIG,
                f"{self.kind} cannot be read; {redo}",
            ),
            (
                r"",
                EX_CONFIG,
                f"{self.kind} does not match {self.manifest} any more (`{self.check}` fails, as shown above); "
                f"{redo}, or set LAUNCHER_IGNORE_LOCK=1 to install from {self.manifest} without the lock",
            ),
        )


LOCKS = (
    Lock(Kind.UV_LOCK, r"uv\.lock", "pyproject.toml", "uv", "uv lock --check", "uv lock", "pyproject"),
    Lock(
        Kind.POETRY_LOCK, r"poetry\.lock", "pyproject.toml", "poetry", "poetry check --lock", "poetry lock", "pyproject"
    ),
    Lock(Kind.PIPFILE_LOCK, r"Pipfile\.lock", "Pipfile", "pipenv", "pipenv verify", "pipenv lock", "pipfile"),
    Lock(Kind.PYLOCK, r"pylock(\.[A-Za-z0-9_-]+)?\.toml", None, "", "", "uv export", "lock"),
)
BY_KIND = {lock.kind: lock for lock in LOCKS}
# The lock files as CONTRACT.md's table in L3 names them.
LOCK_NAMES = ("uv.lock", "poetry.lock", "Pipfile.lock", "pylock.toml", "pylock.NAME.toml")


def lock_named(name: str) -> Lock | None:
    """The kind of lock a file of this name is, if it is one."""
    return next((lock for lock in LOCKS if lock.names.fullmatch(name)), None)
