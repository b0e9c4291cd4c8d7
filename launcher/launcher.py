#!/usr/bin/env python3
"""Launcher of exec-python-3.11: unpack the code bundle at /code, then run the job.

Usage: /build/launcher.py -- COMMAND [ARGS...]

The bundle at /code (a tar file, gzip-compressed or not, or a directory) becomes
the working directory, and COMMAND runs there with ARGS exactly as given: no shell
and no re-joining. The launcher then hands the process over to the command, so
its exit code and signals are the job's own.

Standard library only: this runs before any of the job's requirements exist.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tarfile
import zlib
from pathlib import Path

NAME = "launcher"
CODE = Path(os.environ.get("LAUNCHER_CODE", "/code"))
WORKDIR = Path(os.environ.get("LAUNCHER_WORKDIR", "/tmp/job"))
MAX_BYTES = int(os.environ.get("LAUNCHER_MAX_BYTES", str(1 << 30)))
MAX_MEMBERS = int(os.environ.get("LAUNCHER_MAX_MEMBERS", "100000"))
# Entries that archivers add beside the real content and that do not count when
# deciding whether the bundle sits under one top-level directory.
IGNORED_TOP_LEVEL = frozenset({"__MACOSX"})

# Exit codes of the launcher's own failures (sysexits.h), distinct from the
# job's, which pass through unchanged.
EX_USAGE = 64
EX_BUNDLE = 65
EX_CANTCREATE = 73
# Shell conventions for a command that cannot be run.
EX_NOEXEC = 126
EX_NOTFOUND = 127

USAGE = f"usage: {sys.argv[0]} -- COMMAND [ARGS...]"


class LauncherError(Exception):
    """A failure of the launcher itself: one line for the user, and an exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def say(message: str) -> None:
    print(f"{NAME}: {message}", file=sys.stderr, flush=True)


def parse_command(argv: list[str]) -> list[str]:
    """Return the user's argv: everything after the first `--`."""
    if "--" not in argv:
        raise LauncherError(EX_USAGE, f"no command given; {USAGE}")
    command = argv[argv.index("--") + 1 :]
    if not command:
        raise LauncherError(EX_USAGE, f"no command after '--'; {USAGE}")
    return command


def is_within(root: str, target: str) -> bool:
    """True when target is root or below it (never a sibling such as root + '2')."""
    root, target = os.path.normpath(root), os.path.normpath(target)
    return target == root or target.startswith(root + os.sep)


def check_member(root: str, member: tarfile.TarInfo) -> str | None:
    """Why member may not be extracted under root (a resolved path), or None.

    Paths are resolved against what is already on disk, so that a member cannot
    reach outside through a symlink extracted before it.
    """
    if os.path.isabs(member.name):
        return "absolute path"
    target = os.path.realpath(os.path.join(root, member.name))
    if not is_within(root, target):
        return "path leaves the bundle"
    if member.isdev() or member.isfifo():
        return "device or FIFO"
    if member.issym():
        if os.path.isabs(member.linkname):
            return f"symlink to absolute path {member.linkname!r}"
        if not is_within(root, os.path.realpath(os.path.join(os.path.dirname(target), member.linkname))):
            return f"symlink to {member.linkname!r} points outside the bundle"
    if member.islnk() and not is_within(root, os.path.realpath(os.path.join(root, member.linkname))):
        return f"hardlink to {member.linkname!r} points outside the bundle"
    return None


class BundleTar(tarfile.TarFile):
    """Never hands extracted files to the uids and gids recorded in the archive."""

    def chown(self, *args: object, **kwargs: object) -> None:
        pass


def extract(source: Path, root: Path) -> None:
    """Extract the tar file source into root, member by member, refusing unsafe ones."""
    real_root = os.path.realpath(root)
    count = total = 0
    try:
        with BundleTar.open(source, mode="r:*") as archive:
            for member in archive:
                count += 1
                total += member.size
                if count > MAX_MEMBERS:
                    raise LauncherError(
                        EX_BUNDLE,
                        f"{source}: more than {MAX_MEMBERS} members (limit: LAUNCHER_MAX_MEMBERS)",
                    )
                if total > MAX_BYTES:
                    raise LauncherError(
                        EX_BUNDLE,
                        f"{source}: content exceeds {MAX_BYTES} bytes at {member.name!r} (limit: LAUNCHER_MAX_BYTES)",
                    )
                reason = check_member(real_root, member)
                if reason:
                    raise LauncherError(EX_BUNDLE, f"{source}: refused member {member.name!r}: {reason}")
                member.mode = (member.mode & ~(stat.S_ISUID | stat.S_ISGID)) | (0o700 if member.isdir() else 0o600)
                archive.extract(member, real_root, set_attrs=not member.issym())
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise LauncherError(EX_BUNDLE, f"{source}: not a readable tar archive ({error})") from error
    except OSError as error:
        raise LauncherError(EX_BUNDLE, f"{source}: extraction failed ({error})") from error


def make_workdir() -> Path:
    try:
        if WORKDIR.exists():
            shutil.rmtree(WORKDIR)
        WORKDIR.mkdir(parents=True)
    except OSError as error:
        raise LauncherError(
            EX_CANTCREATE, f"cannot create the working directory {WORKDIR} ({error.strerror}); mount a writable /tmp"
        ) from error
    return WORKDIR


def single_top_level(root: Path) -> Path:
    """The one directory that holds the whole bundle, or root itself."""
    entries = [entry for entry in root.iterdir() if entry.name not in IGNORED_TOP_LEVEL]
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return root


def prepare_bundle() -> Path:
    """Put the bundle in place and return the job's working directory."""
    if CODE.is_dir():
        return single_top_level(CODE)
    root = make_workdir()
    if not CODE.exists():
        say(f"no code bundle at {CODE}; running in the empty directory {root}")
        return root
    extract(CODE, root)
    return single_top_level(root)


def run(command: list[str], workdir: Path) -> None:
    os.chdir(workdir)
    try:
        os.execvp(command[0], command)
    except FileNotFoundError as error:
        raise LauncherError(EX_NOTFOUND, f"command not found: {command[0]!r}") from error
    except PermissionError as error:
        raise LauncherError(EX_NOEXEC, f"command not executable: {command[0]!r}") from error
    except OSError as error:
        raise LauncherError(EX_NOEXEC, f"cannot run {command[0]!r}: {error.strerror}") from error


def main(argv: list[str]) -> int:
    try:
        command = parse_command(argv)
        run(command, prepare_bundle())
    except LauncherError as error:
        say(str(error))
        return error.code
    return 0  # not reached: run() replaces this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
