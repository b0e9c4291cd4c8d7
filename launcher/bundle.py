"""Stage 2: the code bundle at /code, put into a fresh working directory (CONTRACT.md, L1 and L2).

A bundle file (a tar file, plain or gzip-, bzip2- or xz-compressed, or a zip file) is
extracted by libarchive under the policy of policy.py, all or nothing: after a refusal
or a damaged stream, nothing of the bundle is left. A directory at /code is copied the
same way, walked by libarchive under the same policy. Either way, what a bundle holds
that the job is better off without is left out (policy.LeftOut), and the working
directory is never one the launcher did not make.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from . import beneath
from .damage import MAKE_ONE
from .errors import EX_BUNDLE, EX_CANTCREATE, LauncherError
from .extract import Extraction
from .log import say
from .policy import LeftOut
from .settings import Settings

# What a bundle file is, from its first bytes.
MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
)
TAR_BLOCK = 512
# The numeric fields of a tar header (offset, length) that libarchive's reader checks:
# mode, uid, gid, size, mtime, devmajor, devminor.
TAR_NUMBERS = ((100, 8), (108, 8), (116, 8), (124, 12), (136, 12), (329, 8), (337, 8))
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
                extract(code, root, settings, left_out, "directory")
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


def container_identity() -> str:
    """What tells this container from any other, and stays the same when it restarts (one
    line): where its /etc/hostname comes from (Docker keeps one per container) and what its
    root filesystem is (for Docker, an overlay whose upper layer is the container's own)."""
    found = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as file:
            for line in file:
                fields = line.split()
                if len(fields) > 4 and fields[4] in ("/", "/etc/hostname"):
                    # The mount's root and source; not its ids, which a restart changes.
                    options = (line.partition(" - ")[2].split() or [""])[-1]
                    upper = next((item for item in options.split(",") if item.startswith("upperdir=")), options)
                    found.append(f"{fields[4]}={fields[3]}:{upper}")
    except OSError:
        return ""
    return " ".join(sorted(found))


def made_here(mark: Path, identity: str) -> bool:
    """Whether the mark beside a directory says a launcher in this container (identity) made it."""
    try:
        fd = os.open(mark, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        return bool(identity) and os.read(fd, 65536).decode("utf-8", "replace").strip() == identity
    finally:
        os.close(fd)


def make_workdir(path: Path) -> None:
    """Create the working directory. The launcher never deletes what it did not make:
    an existing one must be empty, unless an earlier run of the launcher in this container
    made it (the mark beside it holds this container's identity)."""
    mark = path.parent / MADE_MARK.format(name=path.name)
    identity = container_identity()
    try:
        if made_here(mark, identity) and path.is_dir() and not path.is_symlink():
            parent = os.open(path.parent, beneath.DIRECTORY)
            try:
                beneath.remove_tree(parent, path.name)
            finally:
                os.close(parent)
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
        if os.path.lexists(mark):
            mark.unlink()  # another container's, or a link: replaced, never written through
        fd = os.open(mark, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "w") as file:
            file.write(identity + "\n")
    except OSError:
        pass


def empty_directory(root: Path) -> None:
    """Remove everything under root (what an extraction wrote), keeping root; never through a link."""
    fd = os.open(root, beneath.DIRECTORY)
    try:
        beneath.empty(fd)
    finally:
        os.close(fd)


def single_top_level(root: Path) -> Path:
    """The one directory that holds the whole bundle, or root itself."""
    entries = [entry for entry in root.iterdir() if entry.name not in IGNORED_TOP_LEVEL]
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return root


# --- What a bundle file is ----------------------------------------------------------


def sniff(path: Path) -> str | None:
    """What a bundle file is, by content: tar (ustar, pax, GNU or v7), gzip, bzip2, xz or zip (a
    zip after a preamble, such as a zipapp's #! line, included); None for anything else."""
    with path.open("rb") as file:
        head = file.read(TAR_BLOCK)
    for magic, kind in MAGIC:
        if head.startswith(magic):
            return kind
    if is_tar_header(head):
        return "tar"
    import zipfile

    return "zip" if zipfile.is_zipfile(path) else None


def is_tar_header(block: bytes) -> bool:
    """Whether a block is a tar header as libarchive's reader takes one (the `ustar` magic is not
    needed: v7 tars have none), or the zeros that end an empty tar."""
    if len(block) < TAR_BLOCK:
        return False
    if not any(block):
        return True
    field = block[148:156]
    if field.translate(None, b" \0" + b"01234567"):
        return False
    digits = field.lstrip(b" \t")
    digits = digits[: len(digits) - len(digits.lstrip(b"01234567"))] or b"0"
    rest = block[:148] + block[156:]
    unsigned = sum(rest) + 8 * ord(" ")
    signed = unsigned - 256 * sum(1 for byte in rest if byte >= 0x80)
    if int(digits, 8) not in (unsigned, signed):
        return False
    kind = block[156]
    if not (kind == 0 or 0x30 <= kind <= 0x39 or 0x41 <= kind <= 0x5A or 0x61 <= kind <= 0x7A):
        return False
    return all(is_tar_number(block[offset : offset + length]) for offset, length in TAR_NUMBERS)


def is_tar_number(field: bytes) -> bool:
    """A numeric field: base-256 or empty, or octal digits between spaces and NULs."""
    if field[0] in (0x00, 0x80, 0xFF):
        return True
    return not field.lstrip(b" ").lstrip(b"01234567").strip(b" \0")


def check_regular(source: Path) -> None:
    """A bundle file is a regular file: a FIFO would never end (or be read twice), a device never stop."""
    try:
        mode = os.stat(source).st_mode
    except OSError as error:
        raise LauncherError(EX_BUNDLE, f"cannot read {source} ({error.strerror})") from error
    if not stat.S_ISREG(mode):
        what = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        raise LauncherError(EX_BUNDLE, f"{source} is {what}, not a bundle file; {MAKE_ONE}")


def is_bundle_file(path: Path) -> bool:
    """Whether a lone file in a /code directory is the bundle: an archive by content or by name."""
    return sniff(path) is not None or path.name.lower().endswith(ARCHIVE_SUFFIXES)


# --- Extraction ---------------------------------------------------------------------


def extract(source: Path, root: Path, settings: Settings, left_out: LeftOut | None = None, kind: str = "") -> None:
    """Extract the archive (or copy the directory) at source into root (empty), all or nothing."""
    if not kind:
        check_regular(source)
    kind = kind or sniff(source) or ""
    if not kind:
        raise LauncherError(EX_BUNDLE, f"{source} is not a tar or zip archive; {MAKE_ONE}")
    try:
        Extraction(source, kind, root, settings, left_out or LeftOut()).run()
    except BaseException:
        empty_directory(root)
        raise
