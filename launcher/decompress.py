"""Compressed bundle files, decompressed in a thread of their own and verified to their end.

Python's zlib, bz2 and lzma decompressors check each stream's CRC (and, for gzip, its
length) where the stream ends. This reads every stream of the file to that end (a
file may hold several, one after another, as `cat a.gz b.gz` and parallel compressors
make), allows only zeros after the last one, and writes what comes out into a pipe
that libarchive reads. Large chunks and a thread apart from the one that writes the
files overlap the two, as tar does with a gzip process; Python's GzipFile, BZ2File and
LZMAFile read 8 KiB at a time, which keeps the two threads waiting on each other.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

TYPE_CHECKING = False  # typing is not imported: every job would pay for it
if TYPE_CHECKING:
    from collections.abc import Iterator

CHUNK = 1 << 20
F_SETPIPE_SZ = 1031  # fcntl.h: a pipe as large as a chunk
STREAM_START = {"gzip": b"\x1f\x8b", "bzip2": b"BZh", "xz": b"\xfd7zXZ\x00"}


class StreamTooLong(Exception):
    """The decompressed data went past its cap."""


class TrailingData(ValueError):
    """Something other than zeros follows the last compressed stream."""


def decompressor(kind: str) -> object:
    """A fresh decompressor for one stream of this kind."""
    if kind == "gzip":
        import zlib

        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if kind == "bzip2":
        import bz2

        return bz2.BZ2Decompressor()
    import lzma

    return lzma.LZMADecompressor(lzma.FORMAT_XZ)


def outputs(stream: object, data: bytes) -> Iterator[bytes]:
    """What stream makes of data, at most CHUNK at a time, until data is used up or the stream ends."""
    if hasattr(stream, "unconsumed_tail"):  # zlib hands back the input it has not used yet
        while not stream.eof:
            out = stream.decompress(data, CHUNK)
            data = stream.unconsumed_tail
            if not out and not data:
                return
            yield out  # then ask again, with no input if none is left: zlib may hold more output
        return
    yield stream.decompress(data, CHUNK)  # bz2 and lzma keep it, and want b"" to go on
    while not stream.eof and not stream.needs_input:
        yield stream.decompress(b"", CHUNK)


def decompressed(source: Path, kind: str) -> Iterator[bytes]:
    """The decompressed bytes of source, stream after stream, each verified at its end.

    Raises EOFError when the last stream is cut short, TrailingData when anything but
    zeros follows it, and the decompressor's own error when a stream is damaged.
    """
    with source.open("rb") as raw:
        stream = decompressor(kind)
        data = raw.read(CHUNK)
        while data:
            yield from outputs(stream, data)
            if not stream.eof:
                data = raw.read(CHUNK)
                continue
            data = stream.unused_data or raw.read(CHUNK)
            if not data:
                return
            if not data.startswith(STREAM_START[kind][: len(data)]):
                while data:  # padding: zeros to the end of the file
                    if data.strip(b"\0"):
                        raise TrailingData("something other than zeros follows the compressed stream")
                    data = raw.read(CHUNK)
                return
            stream = decompressor(kind)  # another stream follows
        raise EOFError("the stream ends early")


class Inflater:
    """Decompresses a bundle file in a thread of its own into a pipe; self.fd is its reading end."""

    def __init__(self, source: Path, kind: str, limit: int) -> None:
        self.fd, write_fd = os.pipe()
        try:
            import fcntl

            fcntl.fcntl(write_fd, F_SETPIPE_SZ, CHUNK)
        except OSError:
            pass  # a smaller pipe is only slower
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self.pump, args=(source, kind, limit, write_fd), daemon=True)
        self.thread.start()

    def pump(self, source: Path, kind: str, limit: int, fd: int) -> None:
        try:
            total = 0
            for chunk in decompressed(source, kind):
                total += len(chunk)
                if total > limit:
                    raise StreamTooLong(limit)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
        except BrokenPipeError:
            pass  # the extraction stopped reading: it failed, and says why
        except Exception as error:
            self.error = error
        finally:
            os.close(fd)

    def finish(self) -> None:
        """Read what libarchive left (the end-of-archive blocks, padding) and wait for the
        stream's verified end; a damaged stream is then in self.error."""
        while os.read(self.fd, CHUNK):
            pass
        self.stop()

    def stop(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.thread.join()
