"""A bundle written into the working directory by libarchive, under the policy of policy.py
(CONTRACT.md, L1.6, L1.7 and L2).

The entries come from a bundle file (a tar, plain or compressed, or a zip) or from a
directory, walked by libarchive without following its links; either way each entry
passes the same policy before libarchive writes it, with its secure modes on (no
absolute paths, no '..', nothing written through a symlink, no owners from the archive).
Around it:

- links are checked as each is written and, for symlinks, once more at the end, when every
  link the bundle makes exists, by following them beneath the root (beneath.py);
- a hardlink is made only to a member made before it, reached through directories alone;
- a compressed stream is decompressed by Python's zlib, bz2 and lzma, which check its CRC
  and length, and read to its end before the job may start (decompress.py); its
  decompressed size is capped too;
- a tar must end with its end-of-archive blocks, and a zip's small members (symlinks
  among them, whose CRC libarchive does not check) are verified by Python's zipfile;
- tar names are kept byte for byte (under the C locale libarchive does not compose them);
  libarchive composes the names of a zip that flags them UTF-8 (NFC), and two members of a
  zip that land on one name are refused rather than merged.

The caller (bundle.extract) removes whatever was written when this raises.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from . import beneath
from .decompress import DamagedStream, Stream, StreamTooLong
from .errors import EX_BUNDLE, EX_CANTCREATE, LauncherError
from .log import quoted
from .policy import (
    REFUSED_TYPES,
    VENV_MARK,
    Caps,
    LeftOut,
    longest_path,
    name_refusal,
    normal_path,
    symlink_refusal,
    usable_mode,
)
from .settings import Settings

TYPE_CHECKING = False  # typing is not imported: every job would pay for it
if TYPE_CHECKING:
    from .libarchive import DiskWriter, Reader

COMPRESSED = ("gzip", "bzip2", "xz")
TARS = ("tar", *COMPRESSED)
MAKE_ONE = "make the bundle with: tar czf bundle.tgz -C DIR . (or zip it)"
# Room for headers (and their padding) per member that a decompressed tar stream
# may take beyond LAUNCHER_MAX_BYTES.
HEADER_ROOM = 4096
# What zlib's messages about a damaged gzip stream mean.
STREAM_ERRORS = {
    "incorrect data check": "its CRC does not match its data",
    "incorrect length check": "its length does not match its data",
}
# zip members this small are read by zipfile first: libarchive takes a symlink's target from
# such a member without checking its CRC (it refuses larger link entries).
ZIP_LINK_MAX = 64 << 10


class Extraction:
    """One bundle (a file of the given kind, or a directory), written into root under the policy."""

    def __init__(self, source: Path, kind: str, root: Path, settings: Settings, left_out: LeftOut) -> None:
        self.source = source
        self.kind = kind
        self.root = root
        self.left_out = left_out
        # Symlinks refused, kept until the end: inside a virtual environment found later, they are left out.
        self.refused_links: list[tuple[bytes, str]] = []
        self.caps = Caps(source, settings.max_members, settings.max_bytes)
        self.stream_limit = settings.max_bytes + HEADER_ROOM * settings.max_members
        self.longest = longest_path(root)
        self.symlinks: list[bytes] = []
        self.members: set[bytes] = set()  # paths written, for a zip: one name may not come twice
        self.name = b""
        self.end_gap = -1  # bytes the tar's end-of-archive marker took (0: the archive just stopped)
        self.root_fd = -1

    def run(self) -> None:
        import locale

        from . import libarchive

        self.lib = libarchive
        previous = locale.setlocale(locale.LC_CTYPE)
        set_locale("C.UTF-8" if self.kind == "zip" else "C")
        self.root_fd = os.open(self.root, beneath.DIRECTORY)
        try:
            self.extract(libarchive)
            self.check_end()
        finally:
            os.close(self.root_fd)
            set_locale(previous)  # what the rest of the launcher reads and writes text by

    def extract(self, libarchive: object) -> None:
        directory = self.kind == "directory"
        reader = (
            libarchive.DiskReader() if directory else libarchive.Reader(("zip",) if self.kind == "zip" else ("tar",))
        )
        writer = libarchive.DiskWriter(
            libarchive.EXTRACT_PERM
            | libarchive.EXTRACT_TIME
            | libarchive.EXTRACT_SECURE_NOABSOLUTEPATHS
            | libarchive.EXTRACT_SECURE_NODOTDOT
            | libarchive.EXTRACT_SECURE_SYMLINKS
        )
        stream = Stream(self.source, self.kind, self.stream_limit) if self.kind in COMPRESSED else None
        here = os.open(".", os.O_RDONLY | os.O_CLOEXEC)
        try:
            if directory:
                os.chdir(self.source)  # the walk names entries from here: ".", "./a", "./a/b"
                reader.open_directory(b".")
            elif stream:
                reader.open_chunks(stream.chunks)
            else:
                reader.open_filename(os.fsencode(self.source))
            # libarchive writes relative to the current directory; nothing else runs meanwhile.
            os.chdir(self.root)
            self.write_entries(reader, writer)
            writer.close()
            if stream:
                stream.finish()
        except libarchive.ReadError as error:
            source = reader.source.error if reader.source and reader.source.error else None
            raise self.damaged(source or error) from error
        except (StreamTooLong, DamagedStream) as error:
            raise self.damaged(error) from error
        except libarchive.WriteError as error:
            raise self.cannot_write(error) from error
        finally:
            writer.free()
            reader.close()
            if stream:
                stream.close()
            os.fchdir(here)
            os.close(here)

    def check_end(self) -> None:
        if self.kind in TARS and self.end_gap == 0:
            raise LauncherError(
                EX_BUNDLE,
                f"{self.source}: the tar archive stops without its end-of-archive blocks, so it may be cut short; "
                "make and upload the bundle again",
            )
        if self.kind == "zip":
            self.verify_zip()
        refused = [(path, reason) for path, reason in self.refused_links if not self.left_out.skips(path)]
        if refused:
            raise LauncherError(EX_BUNDLE, refused[0][1])
        if self.caps.members == 0 and not self.left_out.found():
            what = "directory" if self.kind == "directory" else "archive"
            raise LauncherError(EX_BUNDLE, f"{self.source} is an empty {what}; the bundle holds no files")
        self.check_symlinks()

    def write_entries(self, reader: Reader, writer: DiskWriter) -> None:
        lib = self.lib
        caps = self.caps
        directory = self.kind == "directory"
        while True:
            before = reader.position()
            entry = reader.next_entry()
            if entry is None:
                self.end_gap = reader.position() - before
                return
            self.name = name = lib.entry_pathname(entry) or b""
            kind = lib.entry_filetype(entry) & lib.AE_IFMT
            if directory:
                if name == b".":
                    reader.descend()
                    continue
                name = name[2:]
                lib.entry_copy_pathname(entry, name)
                if kind != lib.AE_IFREG:
                    lib.entry_set_size(entry, 0)  # the walk gives a directory's or a link's own size
            link = lib.entry_hardlink(entry)
            reason = name_refusal(name, self.longest)
            if reason:
                raise LauncherError(EX_BUNDLE, f"{self.source}: refused member {quoted(name)}: {reason}")
            path = normal_path(name)
            if self.leaves_out(path, kind == lib.AE_IFDIR):
                if not directory:
                    reader.skip()
                continue
            if directory and kind == lib.AE_IFDIR:
                reader.descend()
            caps.count(path, kind == lib.AE_IFDIR)
            reason = self.refusal(entry, path, kind, link)
            if reason and kind == lib.AE_IFLNK:
                self.refused_links.append((path, f"{self.source}: refused member {quoted(name)}: {reason}"))
                if not directory:
                    reader.skip()
                continue
            if reason:
                raise LauncherError(EX_BUNDLE, f"{self.source}: refused member {quoted(name)}: {reason}")
            size = max(lib.entry_size(entry), 0)
            if link is not None:  # counted at the size of what it links to, as a copy would be
                size = max(size, self.linked_size(link))
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

    def leaves_out(self, path: bytes, is_dir: bool) -> bool:
        """Whether the member at path is left out (L1.7). A pyvenv.cfg makes its folder a virtual
        environment: what was written of it goes (removed without following a link), and nothing
        more of it comes. In a directory bundle, the folder is known before it is entered."""
        if (
            self.kind == "directory"
            and is_dir
            and not self.left_out.skips(path)
            and os.path.lexists(os.path.join(self.source, os.fsdecode(path), os.fsdecode(VENV_MARK)))
        ):
            self.left_out.venvs.add(path)
            return True
        if path.endswith(b"/" + VENV_MARK) and not self.left_out.skips(path):
            venv = path.rpartition(b"/")[0]  # relative and without `..`: name_refusal passed it
            self.left_out.venvs.add(venv)
            beneath.remove_beneath(self.root_fd, venv)
            self.symlinks = [link for link in self.symlinks if not self.left_out.skips(link)]
            self.members = {member for member in self.members if not self.left_out.skips(member)}
            return True
        return self.left_out.skips(path)

    def refusal(self, entry: int, path: bytes, kind: int, link: bytes | None) -> str | None:
        """Why the entry (landing at path) may not be written, or None."""
        lib = self.lib
        if kind in REFUSED_TYPES:
            return REFUSED_TYPES[kind]
        if self.kind == "zip":
            if path in self.members:
                return "another member of the zip has the same name (zip names flagged UTF-8 are composed, NFC)"
            self.members.add(path)
        if kind == lib.AE_IFLNK:
            return symlink_refusal(path, lib.entry_symlink(entry) or b"")
        if link is not None:
            if link.startswith(b"/") or b".." in link.split(b"/"):
                return f"hardlink to {quoted(link)} points outside the bundle"
            target = beneath.lstat_beneath(self.root_fd, normal_path(link))
            if target is None:
                return f"hardlink to {quoted(link)}, which the bundle has not made before it"
            if stat.S_ISLNK(target.st_mode):
                return f"hardlink to the symlink {quoted(link)}"
        return None

    def linked_size(self, link: bytes) -> int:
        target = beneath.lstat_beneath(self.root_fd, normal_path(link))
        return target.st_size if target else 0

    def check_symlinks(self) -> None:
        """Every symlink of the bundle, now that all exist, must still resolve inside it."""
        for name in self.symlinks:
            info = beneath.lstat_beneath(self.root_fd, name)
            if info and stat.S_ISLNK(info.st_mode) and not beneath.resolves_inside(self.root_fd, name):
                raise LauncherError(
                    EX_BUNDLE,
                    f"{self.source}: refused member {quoted(name)}: "
                    "symlink points outside the bundle through the links made after it",
                )

    def verify_zip(self) -> None:
        """Read the zip's small members with zipfile, which checks their CRC."""
        import zipfile

        try:
            with zipfile.ZipFile(self.source) as archive:
                for info in archive.infolist():
                    if info.is_dir() or info.compress_size > ZIP_LINK_MAX or info.flag_bits & 0x1:
                        continue  # an encrypted one is libarchive's to refuse, with its own message
                    with archive.open(info) as member:
                        while member.read(1 << 16):
                            pass
        except NotImplementedError:
            return  # a compression method zipfile lacks: libarchive has read the zip
        except Exception as error:  # whatever zipfile makes of a damaged zip (BadZipFile, zlib.error, ValueError...)
            raise LauncherError(
                EX_BUNDLE,
                f"{self.source}: zip archive is truncated or corrupt ({error}); make and upload the bundle again",
            ) from error

    def damaged(self, error: BaseException) -> LauncherError:
        if isinstance(error, StreamTooLong):
            return LauncherError(
                EX_BUNDLE,
                f"{self.source}: decompressed, the archive exceeds {self.stream_limit} bytes "
                "(limit: LAUNCHER_MAX_BYTES, plus room for headers per member)",
            )
        if self.kind == "directory":
            return self.unreadable(error)
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
                return LauncherError(EX_BUNDLE, f"{self.source} is not a tar or zip archive; {MAKE_ONE}")
            else:
                return LauncherError(
                    EX_BUNDLE, f"{self.source} is {self.kind} data with no tar archive in it; {MAKE_ONE}"
                )
        return LauncherError(
            EX_BUNDLE,
            f"{self.source}: {self.kind} archive is truncated or corrupt ({detail}); make and upload the bundle again",
        )

    def unreadable(self, error: BaseException) -> LauncherError:
        member = f"{self.source}/{os.fsdecode(self.name[2:])}" if self.name.startswith(b"./") else str(self.source)
        return LauncherError(
            EX_BUNDLE,
            f"cannot read {quoted(member)} ({error}); the bundle must be readable by the job's uid {os.getuid()}",
        )

    def cannot_write(self, error: OSError | Exception) -> LauncherError:
        member = f" member {quoted(self.name)}" if self.name else ""
        if getattr(error, "errno", 0) in (errno.ENOSPC, errno.EDQUOT):
            return LauncherError(
                EX_CANTCREATE,
                f"{self.source}: no space left in {self.root} while extracting{member}; give the job a larger /tmp",
            )
        return LauncherError(EX_BUNDLE, f"{self.source}: cannot extract{member} ({error})")


def set_locale(name: str) -> None:
    """The locale libarchive reads names by: C keeps tar names as they are; a zip's names flagged
    UTF-8 need a UTF-8 locale. Whatever LANG the job has."""
    import locale

    try:
        locale.setlocale(locale.LC_CTYPE, name)
    except locale.Error:
        pass
