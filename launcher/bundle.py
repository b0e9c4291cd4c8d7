"""Stage 2: the code bundle at /code, put into a fresh working directory (CONTRACT.md, L1 and L2).

A bundle file (a tar file, plain or gzip-, bzip2- or xz-compressed, or a zip file) is
extracted by libarchive with its secure modes on: no absolute paths, no '..', nothing
written through a symlink, no owners from the archive. Around it, this module holds
the policy:

- refused: devices, FIFOs and sockets; links that lead out of the root, checked as
  each is written and, for symlinks, once more at the end, when every link the bundle
  makes exists; hardlinks to symlinks (the new name would re-root the link);
- dropped: setuid and setgid bits; every file gets its owner's read and write access
  (directories also search), so that the job can use and remove it;
- capped: members (LAUNCHER_MAX_MEMBERS; the directories they are in count too) and
  bytes written (LAUNCHER_MAX_BYTES), each member at its full size (hardlinks and
  sparse files included), checked at its header before its data is written and
  again as the data arrives;
- verified: a compressed stream is decompressed here, by Python's gzip, bz2 and lzma,
  which check its CRC and length, and read to its end before the job may start;
  its decompressed size is capped too;
- all or nothing: after a refusal or a damaged stream, nothing of the bundle is left.

A directory at /code is copied.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from pathlib import Path

from .decompress import Inflater, StreamTooLong
from .errors import EX_BUNDLE, EX_CANTCREATE, LauncherError
from .log import say
from .settings import Settings

TYPE_CHECKING = False  # typing is not imported: every job would pay for it
if TYPE_CHECKING:
    from .libarchive import DiskWriter, Reader

# What a bundle file is, from its first bytes.
MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
)
TAR_MAGIC = (257, b"ustar")  # where ustar, pax and GNU headers say what they are
COMPRESSED = ("gzip", "bzip2", "xz")
# A lone file in a /code directory with one of these names is taken as the bundle,
# even when its content is not an archive (which is then refused).
ARCHIVE_SUFFIXES = (".tar", ".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip")
MAKE_ONE = "make the bundle with: tar czf bundle.tgz -C DIR . (or zip it)"

# Entries that archivers add beside the real content, ignored when deciding
# whether the bundle sits under one top-level directory.
IGNORED_TOP_LEVEL = frozenset({"__MACOSX", ".DS_Store"})
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
# Room for headers (and their padding) per member that a decompressed tar stream
# may take beyond LAUNCHER_MAX_BYTES.
HEADER_ROOM = 4096
# What zlib's messages about a damaged gzip stream mean.
STREAM_ERRORS = {
    "incorrect data check": "its CRC does not match its data",
    "incorrect length check": "its length does not match its data",
}
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
        found = [f"{os.fsdecode(venv)}/ (a virtual environment)" for venv in sorted(self.venvs)]
        if self.caches:
            found.append(f"{len(self.caches)} __pycache__ folder{'s' if len(self.caches) > 1 else ''}")
        if self.macosx:
            found.append("__MACOSX/")
        if self.apple_double:
            found.append(f"{self.apple_double} macOS ._ file{'s' if self.apple_double > 1 else ''}")
        return ", ".join(found) + "; the image provides the environment, and the job makes its own caches"


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


def shown(name: bytes) -> str:
    """A member name as messages quote it (bytes that are not UTF-8 as \\udcXX escapes)."""
    return repr(os.fsdecode(name))


def leaves(path: bytes) -> bool:
    """Whether a relative path climbs above where it starts."""
    normal = posixpath.normpath(path)
    return normal == b".." or normal.startswith(b"../")


def is_within(root: bytes, target: bytes) -> bool:
    """True when target is root or below it (never a sibling such as root + '2')."""
    return target == root or target.startswith(root + b"/")


def name_refusal(name: bytes) -> str | None:
    """Why a member's name alone is refused, or None: before anything else looks at it."""
    if not name:
        return "it has no name"
    if name.startswith(b"/"):
        return "absolute path"
    if b".." in name and b".." in name.split(b"/"):
        return "'..' in its path"
    return None


def normal_path(name: bytes) -> bytes:
    """Where a member lands, as libarchive normalizes its name (`./a/`, `a//b/.`)."""
    path = name[2:] if name.startswith(b"./") else name
    if b"//" in path or b"/." in path or path.startswith(b".") or path.endswith(b"/"):
        path = posixpath.normpath(path)
    return path


def usable_mode(perm: int, is_dir: bool) -> int:
    """The archive's mode without setuid and setgid, and always usable by its owner."""
    return (perm & 0o1777) | (0o700 if is_dir else 0o600)


class Caps:
    """Counts the members and the bytes an extraction writes, against the caps."""

    def __init__(self, source: Path, settings: Settings) -> None:
        self.source = source
        self.max_members = settings.max_members
        self.max_bytes = settings.max_bytes
        self.members = 0
        self.bytes = 0

    def member(self) -> None:
        self.members += 1
        if self.members > self.max_members:
            raise LauncherError(
                EX_BUNDLE,
                f"{self.source}: more than {self.max_members} members, counting the directories they are in "
                "(limit: LAUNCHER_MAX_MEMBERS)",
            )

    def add(self, size: int, name: bytes) -> None:
        self.bytes += size
        if self.bytes > self.max_bytes:
            raise LauncherError(
                EX_BUNDLE,
                f"{self.source}: content exceeds {self.max_bytes} bytes at {shown(name)} (limit: LAUNCHER_MAX_BYTES)",
            )


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


class Extraction:
    """One bundle file, extracted by libarchive into root under the policy of this module."""

    def __init__(self, source: Path, kind: str, root: Path, settings: Settings, left_out: LeftOut) -> None:
        self.source = source
        self.kind = kind
        self.root = root
        self.left_out = left_out
        # Symlinks refused, kept until the end: inside a virtual environment found later, they are left out.
        self.refused_links: list[tuple[bytes, str]] = []
        self.caps = Caps(source, settings)
        self.stream_limit = settings.max_bytes + HEADER_ROOM * settings.max_members
        self.symlinks: list[bytes] = []
        self.directories: set[bytes] = set()  # made so far, by a member or on the way to one
        self.name = b""

    def run(self) -> None:
        import locale

        from . import libarchive

        # libarchive reads names by the process's locale: UTF-8, whatever LANG the job has.
        try:
            locale.setlocale(locale.LC_CTYPE, "C.UTF-8")
        except locale.Error:
            pass
        self.lib = libarchive
        reader = libarchive.Reader(("zip",) if self.kind == "zip" else ("tar",))
        writer = libarchive.DiskWriter(
            libarchive.EXTRACT_PERM
            | libarchive.EXTRACT_TIME
            | libarchive.EXTRACT_SECURE_NOABSOLUTEPATHS
            | libarchive.EXTRACT_SECURE_NODOTDOT
            | libarchive.EXTRACT_SECURE_SYMLINKS
        )
        stream = Inflater(self.source, self.kind, self.stream_limit) if self.kind in COMPRESSED else None
        here = os.open(".", os.O_RDONLY)
        try:
            if stream:
                reader.open_fd(stream.fd)
            else:
                reader.open_filename(os.fsencode(self.source))
            # libarchive writes relative to the current directory; nothing else runs meanwhile.
            os.chdir(self.root)
            self.write_entries(reader, writer)
            writer.close()
            if stream:
                stream.finish()
        except libarchive.ReadError as error:
            if stream:
                stream.stop()
            raise self.damaged(stream.error if stream and stream.error else error) from error
        except libarchive.WriteError as error:
            raise self.cannot_write(error) from error
        finally:
            if stream:
                stream.stop()
            writer.free()
            reader.close()
            os.fchdir(here)
            os.close(here)
        if stream and stream.error:
            raise self.damaged(stream.error)
        refused = [(path, reason) for path, reason in self.refused_links if not self.left_out.skips(path)]
        if refused:
            raise LauncherError(EX_BUNDLE, refused[0][1])
        if self.caps.members == 0 and not self.left_out.found():
            raise LauncherError(EX_BUNDLE, f"{self.source} is an empty archive; the bundle holds no files")
        self.check_symlinks()

    def write_entries(self, reader: Reader, writer: DiskWriter) -> None:
        lib = self.lib
        caps = self.caps
        while (entry := reader.next_entry()) is not None:
            self.name = name = lib.entry_pathname(entry) or b""
            kind = lib.entry_filetype(entry) & lib.AE_IFMT
            link = lib.entry_hardlink(entry)
            path = normal_path(name)
            reason = name_refusal(name)
            if reason:
                raise LauncherError(EX_BUNDLE, f"{self.source}: refused member {shown(name)}: {reason}")
            if self.leaves_out(path):
                continue
            self.count(path, kind == lib.AE_IFDIR)
            reason = self.refusal(entry, name, path, kind, link)
            if reason and kind == lib.AE_IFLNK:
                self.refused_links.append((path, f"{self.source}: refused member {shown(name)}: {reason}"))
                continue
            if reason:
                raise LauncherError(EX_BUNDLE, f"{self.source}: refused member {shown(name)}: {reason}")
            size = max(lib.entry_size(entry), 0)
            if link is not None:  # counted at the size of what it links to, as a copy would be
                size = max(size, os.lstat(posixpath.normpath(link)).st_size)
            caps.add(size, name)
            perm = lib.entry_perm(entry)
            usable = usable_mode(perm, kind == lib.AE_IFDIR)
            if usable != perm:
                lib.entry_set_perm(entry, usable)
            writer.header(entry)
            written = 0
            while (block := reader.next_block()) is not None:
                written += block[1]
                if written > size:  # more data than the header declared
                    caps.add(written - size, name)
                    size = written
                writer.block(*block)
            writer.finish_entry()
            if kind == lib.AE_IFLNK:
                self.symlinks.append(path)

    def leaves_out(self, path: bytes) -> bool:
        """Whether the member at path is left out (L1.7). A pyvenv.cfg makes its folder a
        virtual environment: what was written of it goes, and nothing more of it comes."""
        if path.endswith(b"/" + VENV_MARK) and not self.left_out.skips(path):
            venv = path.rpartition(b"/")[0]  # relative and without `..`: name_refusal passed it
            self.left_out.venvs.add(venv)
            if os.path.isdir(venv) and not os.path.islink(venv):
                import shutil

                shutil.rmtree(venv)
            elif os.path.lexists(venv):
                os.unlink(venv)
            self.symlinks = [link for link in self.symlinks if not self.left_out.skips(link)]
            return True
        return self.left_out.skips(path)

    def count(self, path: bytes, is_dir: bool) -> None:
        """Count a member, and each directory it is in that no member before it made: a single
        member with a long name would otherwise make thousands of directories."""
        self.caps.member()
        if is_dir:
            self.directories.add(path)
        parent = path.rpartition(b"/")[0]
        while parent and parent not in self.directories:
            self.directories.add(parent)
            self.caps.member()
            parent = parent.rpartition(b"/")[0]

    def refusal(self, entry: int, name: bytes, path: bytes, kind: int, link: bytes | None) -> str | None:
        """Why the entry (named name, landing at path) may not be written, or None."""
        lib = self.lib
        if kind in REFUSED_TYPES:
            return REFUSED_TYPES[kind]
        if kind == lib.AE_IFLNK:
            target = lib.entry_symlink(entry) or b""
            if target.startswith(b"/"):
                return f"symlink to absolute path {shown(target)}"
            # From where the link lands: `sub/.` is made as `sub`.
            if leaves(posixpath.join(posixpath.dirname(path), target)):
                return f"symlink to {shown(target)} points outside the bundle"
        if link is not None:
            if link.startswith(b"/") or b".." in link.split(b"/"):
                return f"hardlink to {shown(link)} points outside the bundle"
            target_path = posixpath.normpath(link)  # what libarchive links to: `a/link/.` is `a/link`
            try:
                target_mode = os.lstat(target_path).st_mode
            except OSError:
                return f"hardlink to {shown(link)}, which the bundle has not made before it"
            if stat.S_ISLNK(target_mode):
                return f"hardlink to the symlink {shown(link)}"
            if not is_within(os.getcwdb(), os.path.realpath(target_path)):
                return f"hardlink to {shown(link)} points outside the bundle"
        return None

    def check_symlinks(self) -> None:
        """Every symlink of the bundle, now that all exist, must still resolve inside it."""
        root = os.fsencode(os.path.realpath(self.root))
        for name in self.symlinks:
            path = os.path.join(root, name)
            if os.path.islink(path) and not is_within(root, os.path.realpath(path)):
                raise LauncherError(
                    EX_BUNDLE,
                    f"{self.source}: refused member {shown(name)}: "
                    "symlink points outside the bundle through the links made after it",
                )

    def damaged(self, error: BaseException) -> LauncherError:
        if isinstance(error, StreamTooLong):
            return LauncherError(
                EX_BUNDLE,
                f"{self.source}: decompressed, the archive exceeds {self.stream_limit} bytes "
                "(limit: LAUNCHER_MAX_BYTES, plus room for headers per member)",
            )
        detail = str(error) or type(error).__name__
        detail = STREAM_ERRORS.get(detail.removeprefix("Error -3 while decompressing data: "), detail)
        if self.kind == "zip" and "Passphrase" in detail:
            return LauncherError(
                EX_BUNDLE, f"{self.source}: the zip archive is encrypted ({detail}); zip the bundle without a password"
            )
        if detail == "Unrecognized archive format":
            if self.kind == "zip":
                detail = "its central directory, at the end, is missing"
            elif self.kind == "tar":
                detail = "its first header is damaged"
            else:
                return LauncherError(
                    EX_BUNDLE, f"{self.source} is {self.kind} data with no tar archive in it; {MAKE_ONE}"
                )
        return LauncherError(
            EX_BUNDLE,
            f"{self.source}: {self.kind} archive is truncated or corrupt ({detail}); make and upload the bundle again",
        )

    def cannot_write(self, error: OSError | Exception) -> LauncherError:
        member = f" member {shown(self.name)}" if self.name else ""
        if getattr(error, "errno", 0) in (errno.ENOSPC, errno.EDQUOT):
            return LauncherError(
                EX_CANTCREATE,
                f"{self.source}: no space left in {self.root} while extracting{member}; give the job a larger /tmp",
            )
        return LauncherError(EX_BUNDLE, f"{self.source}: cannot extract{member} ({error})")
