"""The extraction of a bundle file by libarchive, and the policy around it (CONTRACT.md, L1.7 and L2).

libarchive writes with its secure modes on: no absolute paths, no '..', nothing written
through a symlink, no owners from the archive. Around it, this module holds the policy:

- refused: devices, FIFOs and sockets; links that lead out of the root, checked as
  each is written and, for symlinks, once more at the end, when every link the bundle
  makes exists; hardlinks to symlinks (the new name would re-root the link); every
  name before anything else looks at it;
- dropped: setuid and setgid bits; every file gets its owner's read and write access
  (directories also search), so that the job can use and remove it;
- capped: members (LAUNCHER_MAX_MEMBERS; the directories they are in count too) and
  bytes written (LAUNCHER_MAX_BYTES), each member at its full size (hardlinks and
  sparse files included), checked at its header before its data is written and
  again as the data arrives;
- verified: a compressed stream is decompressed by Python's zlib, bz2 and lzma, which
  check its CRC and length, and read to its end before the job may start (decompress);
  its decompressed size is capped too;
- left out: virtual environments, __pycache__ folders, and what macOS adds.

The caller (bundle.extract) removes whatever was written when this raises.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from pathlib import Path

from .decompress import Inflater, StreamTooLong
from .errors import EX_BUNDLE, EX_CANTCREATE, LauncherError
from .settings import Settings

TYPE_CHECKING = False  # typing is not imported: every job would pay for it
if TYPE_CHECKING:
    from .libarchive import DiskWriter, Reader

COMPRESSED = ("gzip", "bzip2", "xz")
MAKE_ONE = "make the bundle with: tar czf bundle.tgz -C DIR . (or zip it)"
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
