"""A bundle written into the working directory by libarchive, under the policy of policy.py
(CONTRACT.md, L1.6, L1.7 and L2): the libarchive session.

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

Each entry goes through entries.py; what an error of libarchive, zlib or zipfile means is
damage.py's. The caller (bundle.extract) removes whatever was written when this raises.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import beneath
from .damage import cannot_write, damaged, unreadable, verify_zip
from .decompress import DamagedStream, Stream, StreamTooLong
from .entries import Entries
from .errors import EX_BUNDLE, LauncherError
from .policy import Caps, LeftOut
from .settings import Settings

COMPRESSED = ("gzip", "bzip2", "xz")
TARS = ("tar", *COMPRESSED)
# Room for headers (and their padding) per member that a decompressed tar stream
# may take beyond LAUNCHER_MAX_BYTES.
HEADER_ROOM = 4096


class Extraction:
    """One bundle (a file of the given kind, or a directory), written into root under the policy."""

    def __init__(self, source: Path, kind: str, root: Path, settings: Settings, left_out: LeftOut) -> None:
        self.source = source
        self.kind = kind
        self.root = root
        self.left_out = left_out
        self.caps = Caps(source, settings.max_members, settings.max_bytes)
        self.stream_limit = settings.max_bytes + HEADER_ROOM * settings.max_members
        self.end_gap = -1  # bytes the tar's end-of-archive marker took (0: the archive just stopped)

    def run(self) -> None:
        import locale

        previous = locale.setlocale(locale.LC_CTYPE)
        set_locale("C.UTF-8" if self.kind == "zip" else "C")
        root_fd = os.open(self.root, beneath.DIRECTORY)
        try:
            entries = Entries(self.source, self.kind, self.root, root_fd, self.caps, self.left_out)
            self.extract(entries)
            self.check_end(entries)
        finally:
            os.close(root_fd)
            set_locale(previous)  # what the rest of the launcher reads and writes text by

    def extract(self, entries: Entries) -> None:
        """Read every entry and write it; libarchive writes relative to the current directory,
        so the root is the current directory meanwhile (nothing else runs), and the one before
        is restored after."""
        from . import libarchive

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
        here = current_directory()
        try:
            if directory:
                os.chdir(self.source)  # the walk names entries from here: ".", "./a", "./a/b"
                reader.open_directory(b".")
            elif stream:
                reader.open_chunks(stream.chunks)
            else:
                reader.open_filename(os.fsencode(self.source))
            os.chdir(self.root)
            self.end_gap = entries.write_all(reader, writer)
            writer.close()
            if stream:
                stream.finish()
        except libarchive.ReadError as error:
            source = reader.source.error if reader.source and reader.source.error else None
            raise self.damaged(source or error, entries.name) from error
        except (StreamTooLong, DamagedStream) as error:
            raise self.damaged(error, entries.name) from error
        except libarchive.WriteError as error:
            raise cannot_write(self.source, self.root, entries.name, error) from error
        finally:
            writer.free()
            reader.close()
            if stream:
                stream.close()
            back_to(here)

    def damaged(self, error: BaseException, name: bytes) -> LauncherError:
        if self.kind == "directory" and not isinstance(error, StreamTooLong):
            return unreadable(self.source, name, error)
        return damaged(self.source, self.kind, error, self.stream_limit)

    def check_end(self, entries: Entries) -> None:
        """What can be told only once every entry is written."""
        if self.kind in TARS and self.end_gap == 0:
            raise LauncherError(
                EX_BUNDLE,
                f"{self.source}: the tar archive stops without its end-of-archive blocks, so it may be cut short; "
                "make and upload the bundle again",
            )
        if self.kind == "zip":
            verify_zip(self.source)
        if self.caps.members == 0 and not self.left_out.found():
            what = "directory" if self.kind == "directory" else "archive"
            raise LauncherError(EX_BUNDLE, f"{self.source} is an empty {what}; the bundle holds no files")
        entries.check_links()


def current_directory() -> int | None:
    """The current directory, held open to come back to (O_PATH: it need not be readable), or
    None when there is none to come back to (it was removed)."""
    try:
        return os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None


def back_to(here: int | None) -> None:
    if here is None:
        os.chdir("/")
        return
    try:
        os.fchdir(here)
    finally:
        os.close(here)


def set_locale(name: str) -> None:
    """The locale libarchive reads names by: C keeps tar names as they are; a zip's names flagged
    UTF-8 need a UTF-8 locale. Whatever LANG the job has."""
    import locale

    try:
        locale.setlocale(locale.LC_CTYPE, name)
    except locale.Error:
        pass
