"""Stage 2: the code bundle at /code, put into a fresh working directory (CONTRACT.md, L1 and L2).

A bundle file (a tar file, plain or gzip-, bzip2- or xz-compressed, or a zip file) is
extracted by libarchive under the policy of extract.py, all or nothing: after a
refusal or a damaged stream, nothing of the bundle is left. A directory at /code is
copied. Either way, what a bundle holds that the job is better off without is left
out (extract.LeftOut), and the working directory is never one the launcher did not make.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import EX_BUNDLE, EX_CANTCREATE, LauncherError
from .extract import MAKE_ONE, VENV_MARK, Extraction, LeftOut
from .log import say
from .settings import Settings

# What a bundle file is, from its first bytes.
MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
)
TAR_MAGIC = (257, b"ustar")  # where ustar, pax and GNU headers say what they are
# A lone file in a /code directory with one of these names is taken as the bundle,
# even when its content is not an archive (which is then refused).
ARCHIVE_SUFFIXES = (".tar", ".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip")
# Entries that archivers add beside the real content, ignored when deciding
# whether the bundle sits under one top-level directory.
IGNORED_TOP_LEVEL = frozenset({"__MACOSX", ".DS_Store"})
# Beside the working directory: says that the launcher made it, so that a later run
# in the same container (a restart) may remove it.
MADE_MARK = ".{name}.launcher-made"


def prepare(settings: Settings) -> Path:
    """Put the bundle in a fresh working directory and return where the job runs."""
    root = settings.workdir
    make_workdir(root)
    code = settings.code
    if not os.path.lexists(code):
        say(f"no code bundle at {code}; running in the empty directory {root}")
        return root
    left_out = LeftOut()
    try:
        if code.is_dir():
            entries = list(code.iterdir())
            if len(entries) == 1 and entries[0].is_file() and is_bundle_file(entries[0]):
                extract(entries[0], root, settings, left_out)
            else:
                copy_directory(code, root, left_out)
        else:
            extract(code, root, settings, left_out)
    except PermissionError as error:
        raise LauncherError(
            EX_BUNDLE,
            f"cannot read {error.filename or code} ({error.strerror}); "
            f"the bundle must be readable by the job's uid {os.getuid()}",
        ) from error
    if left_out.found():
        say(f"left out of the bundle: {left_out.describe()}")
    return single_top_level(root)


def make_workdir(path: Path) -> None:
    """Create the working directory. The launcher never deletes what it did not make:
    an existing one must be empty, unless an earlier run of the launcher made it."""
    mark = path.parent / MADE_MARK.format(name=path.name)
    try:
        if mark.exists() and path.is_dir() and not path.is_symlink():
            import shutil

            shutil.rmtree(path)
        path.mkdir(parents=True)
    except FileExistsError:
        if path.is_symlink() or not path.is_dir() or any(path.iterdir()):
            raise LauncherError(
                EX_CANTCREATE,
                f"{path} already exists and is not an empty directory, and the launcher never deletes "
                f"what it did not make; set LAUNCHER_WORKDIR to a new or empty directory",
            ) from None
        return
    except OSError as error:
        raise LauncherError(
            EX_CANTCREATE, f"cannot create {path} ({error.strerror}); give the job a writable {path.parent}"
        ) from error
    # Without the mark, a restart in the same container finds the directory taken, and says so.
    try:
        mark.touch()
    except OSError:
        pass


def empty_directory(root: Path) -> None:
    """Remove everything under root (what an extraction wrote), keeping root."""
    import shutil

    with os.scandir(root) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)


def copy_directory(source: Path, root: Path, left_out: LeftOut) -> None:
    import shutil

    def ignore(directory: str, names: list[str]) -> set[str]:
        relative = os.path.relpath(directory, source)
        skipped = set()
        for name in names:
            path = os.fsencode(os.path.normpath(os.path.join(relative, name)))
            if os.path.isfile(os.path.join(directory, name, os.fsdecode(VENV_MARK))):
                left_out.venvs.add(path)
            if left_out.skips(path):
                skipped.add(name)
        return skipped

    try:
        shutil.copytree(source, root, symlinks=True, dirs_exist_ok=True, ignore=ignore)
    except (OSError, shutil.Error) as error:
        raise LauncherError(EX_BUNDLE, f"cannot copy the bundle directory {source} ({error})") from error


def single_top_level(root: Path) -> Path:
    """The one directory that holds the whole bundle, or root itself."""
    entries = [entry for entry in root.iterdir() if entry.name not in IGNORED_TOP_LEVEL]
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return root


def sniff(path: Path) -> str | None:
    """What a bundle file is, by content: tar, gzip, bzip2, xz or zip; None for anything else."""
    with path.open("rb") as file:
        head = file.read(512)
    for magic, kind in MAGIC:
        if head.startswith(magic):
            return kind
    offset, magic = TAR_MAGIC
    return "tar" if head[offset : offset + len(magic)] == magic else None


def is_bundle_file(path: Path) -> bool:
    """Whether a lone file in a /code directory is the bundle: an archive by content or by name."""
    return sniff(path) is not None or path.name.lower().endswith(ARCHIVE_SUFFIXES)


# --- Extraction ---------------------------------------------------------------------


def extract(source: Path, root: Path, settings: Settings, left_out: LeftOut | None = None) -> None:
    """Extract the archive at source into root (empty), all or nothing."""
    kind = sniff(source)
    if kind is None:
        raise LauncherError(EX_BUNDLE, f"{source} is not a tar or zip archive; {MAKE_ONE}")
    try:
        Extraction(source, kind, root, settings, left_out or LeftOut()).run()
    except BaseException:
        empty_directory(root)
        raise
