"""The calls of libarchive (Debian's libarchive13) that the bundle stage makes, through ctypes.

libarchive reads the formats (tar in its ustar, pax, GNU and v7 dialects, sparse files
and long names included; zip), walks a directory tree without following its links, and
writes entries to disk with its secure modes. What is written, and what is refused, is
the policy of launcher.policy, applied entry by entry in launcher.entries. The names
below are libarchive's own (archive.h, archive_entry.h).
"""

from __future__ import annotations

import ctypes
import errno
from ctypes import CFUNCTYPE, POINTER, byref, c_char_p, c_int, c_int64, c_size_t, c_ssize_t, c_uint, c_void_p

TYPE_CHECKING = False  # typing is not imported: every job would pay for it
if TYPE_CHECKING:
    from collections.abc import Iterator

LIBRARY = "libarchive.so.13"

# Return codes.
ARCHIVE_OK = 0
ARCHIVE_EOF = 1
ARCHIVE_WARN = -20
ARCHIVE_FATAL = -30

# Entry types.
AE_IFMT = 0o170000
AE_IFREG = 0o100000
AE_IFLNK = 0o120000
AE_IFDIR = 0o040000

# Options of archive_write_disk.
EXTRACT_PERM = 0x0002
EXTRACT_TIME = 0x0004
EXTRACT_SECURE_SYMLINKS = 0x0100
EXTRACT_SECURE_NODOTDOT = 0x0200
EXTRACT_SECURE_NOABSOLUTEPATHS = 0x10000
# Options of archive_read_disk: no extended attributes, ACLs, flags or sparse maps, so that
# nothing but the tree's own files is opened (a FIFO or a device is reported, never opened).
READDISK_NO_PROBES = 0x10 | 0x20 | 0x40 | 0x80

BLOCK_SIZE = 1 << 20
DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG)
# Under the C locale, libarchive keeps pax names as they are stored (it would otherwise
# compose them, NFC) and says so with these warnings, which are then no failure.
CONVERSION_WARNINGS = tuple(
    b"%s can't be converted from UTF-8 to current locale." % field
    for field in (b"Pathname", b"Linkname", b"Uname", b"Gname")
)

_lib = ctypes.CDLL(LIBRARY)


def _declare(name: str, restype: object, *argtypes: object) -> ctypes._CFuncPtr:
    function = getattr(_lib, name)
    function.restype = restype
    function.argtypes = argtypes
    return function


READ_CALLBACK = CFUNCTYPE(c_ssize_t, c_void_p, c_void_p, POINTER(c_void_p))
OPEN_CALLBACK = CFUNCTYPE(c_int, c_void_p, c_void_p)
CLOSE_CALLBACK = CFUNCTYPE(c_int, c_void_p, c_void_p)

_read_new = _declare("archive_read_new", c_void_p)
_read_support_format_tar = _declare("archive_read_support_format_tar", c_int, c_void_p)
# The seekable zip reader reads the central directory, so a zip without one (truncated) is refused.
_read_support_format_zip_seekable = _declare("archive_read_support_format_zip_seekable", c_int, c_void_p)
_read_open = _declare("archive_read_open", c_int, c_void_p, c_void_p, OPEN_CALLBACK, READ_CALLBACK, CLOSE_CALLBACK)
_read_open_filename = _declare("archive_read_open_filename", c_int, c_void_p, c_char_p, c_size_t)
_read_next_header = _declare("archive_read_next_header", c_int, c_void_p, POINTER(c_void_p))
_read_data_block = _declare(
    "archive_read_data_block", c_int, c_void_p, POINTER(c_void_p), POINTER(c_size_t), POINTER(c_int64)
)
_read_data_skip = _declare("archive_read_data_skip", c_int, c_void_p)
_read_free = _declare("archive_read_free", c_int, c_void_p)
_filter_bytes = _declare("archive_filter_bytes", c_int64, c_void_p, c_int)
_read_disk_new = _declare("archive_read_disk_new", c_void_p)
_read_disk_set_symlink_physical = _declare("archive_read_disk_set_symlink_physical", c_int, c_void_p)
_read_disk_set_behavior = _declare("archive_read_disk_set_behavior", c_int, c_void_p, c_int)
_read_disk_open = _declare("archive_read_disk_open", c_int, c_void_p, c_char_p)
_read_disk_descend = _declare("archive_read_disk_descend", c_int, c_void_p)
_write_disk_new = _declare("archive_write_disk_new", c_void_p)
_write_disk_set_options = _declare("archive_write_disk_set_options", c_int, c_void_p, c_int)
_write_header = _declare("archive_write_header", c_int, c_void_p, c_void_p)
_write_data_block = _declare("archive_write_data_block", c_int, c_void_p, c_void_p, c_size_t, c_int64)
_write_finish_entry = _declare("archive_write_finish_entry", c_int, c_void_p)
_write_close = _declare("archive_write_close", c_int, c_void_p)
_write_free = _declare("archive_write_free", c_int, c_void_p)
_error_string = _declare("archive_error_string", c_char_p, c_void_p)
_errno = _declare("archive_errno", c_int, c_void_p)
_set_error = _lib.archive_set_error  # variadic: (struct archive *, int, const char *fmt, ...)
_set_error.restype = None

entry_pathname = _declare("archive_entry_pathname", c_char_p, c_void_p)
entry_copy_pathname = _declare("archive_entry_copy_pathname", None, c_void_p, c_char_p)
entry_filetype = _declare("archive_entry_filetype", c_uint, c_void_p)
entry_size = _declare("archive_entry_size", c_int64, c_void_p)
entry_set_size = _declare("archive_entry_set_size", None, c_void_p, c_int64)
entry_perm = _declare("archive_entry_perm", c_uint, c_void_p)
entry_set_perm = _declare("archive_entry_set_perm", None, c_void_p, c_uint)
entry_hardlink = _declare("archive_entry_hardlink", c_char_p, c_void_p)
entry_symlink = _declare("archive_entry_symlink", c_char_p, c_void_p)


class ArchiveError(Exception):
    """A libarchive call failed: its message, and the errno it recorded (0 when none)."""

    def __init__(self, archive: int) -> None:
        message = _error_string(archive)
        text = message.decode("utf-8", "backslashreplace") if message else "a header it cannot read"
        super().__init__(" ".join(text.split()).rstrip("."))  # on one line
        self.errno = max(_errno(archive), 0)


class ReadError(ArchiveError):
    """Reading the archive failed: it is damaged, truncated or not what it claims to be."""


class WriteError(ArchiveError):
    """Writing an entry to disk failed, or libarchive's secure modes refused it."""


class Chunks:
    """The callbacks that feed libarchive from an iterator of byte chunks (a stream decompressed
    and verified in Python). They and the chunk libarchive is reading must outlive the reader."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.chunk = b""
        self.error: BaseException | None = None  # what the iterator raised, for the caller
        self.callbacks = (OPEN_CALLBACK(self.opened), READ_CALLBACK(self.read), CLOSE_CALLBACK(self.opened))

    def opened(self, archive: int, data: int) -> int:
        return ARCHIVE_OK

    def read(self, archive: int, data: int, buffer: ctypes._Pointer) -> int:
        # An exception must not escape: ctypes would return 0, which libarchive takes for the end.
        try:
            self.chunk = next((chunk for chunk in self.chunks if chunk), b"")
            buffer[0] = ctypes.cast(c_char_p(self.chunk), c_void_p)
            return len(self.chunk)
        except Exception as error:
            self.error = error
            _set_error(c_void_p(archive), c_int(errno.EIO), b"%s", str(error).encode("utf-8", "backslashreplace"))
            return -1


class Reader:
    """Reads the entries of a tar or zip archive. A warning counts as a failure (for libarchive,
    a data block whose CRC does not match is only a warning), but for the warnings that say a
    pax name was kept as stored."""

    def __init__(self, formats: tuple[str, ...]) -> None:
        self.archive = _read_new()
        for name in formats:
            {"tar": _read_support_format_tar, "zip": _read_support_format_zip_seekable}[name](self.archive)
        self.entry = c_void_p()
        self.buffer = c_void_p()
        self.length = c_size_t()
        self.offset = c_int64()
        self.source: Chunks | None = None
        # Made once: every entry and every block passes them.
        self.entry_ref = byref(self.entry)
        self.block_refs = (byref(self.buffer), byref(self.length), byref(self.offset))

    def open_chunks(self, chunks: Iterator[bytes]) -> None:
        self.source = Chunks(chunks)
        self._check(_read_open(self.archive, None, *self.source.callbacks))

    def open_filename(self, path: bytes) -> None:
        self._check(_read_open_filename(self.archive, path, BLOCK_SIZE))

    def next_entry(self) -> int | None:
        """The next entry (valid until the next call), or None at the end of the archive."""
        result = _read_next_header(self.archive, self.entry_ref)
        if result == ARCHIVE_WARN and _error_string(self.archive) in CONVERSION_WARNINGS:
            result = ARCHIVE_OK
        if self._check(result) == ARCHIVE_EOF:
            return None
        return self.entry.value

    def next_block(self) -> tuple[int, int, int] | None:
        """The next block of the current entry's data: (address, length, offset in the file), or None."""
        if self._check(_read_data_block(self.archive, *self.block_refs)):
            return None
        return self.buffer.value or 0, self.length.value, self.offset.value

    def skip(self) -> None:
        """Read past the current entry's data."""
        self._check(_read_data_skip(self.archive))

    def position(self) -> int:
        """How many bytes of the (decompressed) archive have been read."""
        return _filter_bytes(self.archive, 0)

    def close(self) -> None:
        _read_free(self.archive)

    def _check(self, result: int) -> int:
        if result < ARCHIVE_OK:
            raise ReadError(self.archive)
        return result


class DiskReader(Reader):
    """Walks a directory tree as entries, its links reported and never followed, its
    subdirectories entered only when descend() is called for them."""

    def __init__(self) -> None:
        super().__init__(())
        _read_free(self.archive)
        self.archive = _read_disk_new()
        _read_disk_set_symlink_physical(self.archive)
        _read_disk_set_behavior(self.archive, READDISK_NO_PROBES)

    def open_directory(self, path: bytes) -> None:
        """Walk path; entries are named path, path/a, path/a/b..."""
        self._check(_read_disk_open(self.archive, path))

    def descend(self) -> None:
        _read_disk_descend(self.archive)

    def position(self) -> int:
        return 0  # a walk has no stream (and archive_filter_bytes would crash on it)


class DiskWriter:
    """Writes entries to disk, relative to the current directory, with libarchive's write_disk."""

    def __init__(self, options: int) -> None:
        self.archive = _write_disk_new()
        _write_disk_set_options(self.archive, options)

    def header(self, entry: int) -> None:
        self._check(_write_header(self.archive, entry))

    def block(self, address: int, length: int, offset: int) -> None:
        # A failed write (a full disk) is only a warning to libarchive, which would then
        # leave a hole of the right size in the file: here it is a failure. A warning
        # with no errno is data for an entry that takes none (a directory), dropped.
        result = _write_data_block(self.archive, address, length, offset)
        if result < ARCHIVE_WARN or (result == ARCHIVE_WARN and _errno(self.archive) != 0):
            raise WriteError(self.archive)

    def finish_entry(self) -> None:
        self._check(_write_finish_entry(self.archive))

    def close(self) -> None:
        """Apply what libarchive defers to the end (directory modes and times)."""
        self._check(_write_close(self.archive))

    def free(self) -> None:
        _write_free(self.archive)

    def _check(self, result: int) -> None:
        # A warning here is about metadata (a time or a mode that could not be set), unless
        # the disk failed.
        if result < ARCHIVE_WARN or (result == ARCHIVE_WARN and _errno(self.archive) in DISK_ERRORS):
            raise WriteError(self.archive)
