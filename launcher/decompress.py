"""Compressed bundle files, decompressed and verified to their end.

Python's zlib, bz2 and lzma decompressors check each stream's CRC (and, for gzip, its
length) where the stream ends. This reads every stream of the file to that end (a
file may hold several, one after another, as `cat a.gz b.gz` and parallel compressors
make), allows only zeros after the last one, and hands what comes out to libarchive in
chunks of a megabyte, in the same thread: no thread or process is started, so that a
container with a tight process limit extracts as any other.
"""

from __future__ import annotations

from pathlib import Path

TYPE_CHECKING = False  # typing is not imported: every job would pay for it
if TYPE_CHECKING:
    from collections.abc import Iterator

CHUNK = 1 << 20
STREAM_START = {"gzip": b"\x1f\x8b", "bzip2": b"BZh", "xz": b"\xfd7zXZ\x00"}


class StreamTooLong(Exception):
    """The decompressed data went past its cap."""


class DamagedStream(Exception):
    """A compressed stream that is damaged, cut short, or followed by something else: what the
    decompressor said."""


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


class Stream:
    """A bundle file's decompressed bytes, chunk by chunk, counted against a cap: libarchive reads
    them from self.chunks; finish() reads what it left to the verified end of the last stream."""

    def __init__(self, source: Path, kind: str, limit: int) -> None:
        self.stream = decompressed(source, kind)
        self.chunks = self.capped(self.stream, limit)

    @staticmethod
    def capped(chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
        total = 0
        try:
            for chunk in chunks:
                total += len(chunk)
                if total > limit:
                    raise StreamTooLong(limit)
                yield chunk
        except StreamTooLong:
            raise
        except Exception as error:  # zlib.error, OSError (bz2), lzma.LZMAError, EOFError, TrailingData
            raise DamagedStream(str(error) or type(error).__name__) from error

    def finish(self) -> None:
        """Read what libarchive left (the end-of-archive blocks, padding) to the stream's verified end."""
        for _ in self.chunks:
            pass

    def close(self) -> None:
        """Close the file now, finished or not (not whenever the garbage collector comes by)."""
        self.chunks.close()
        self.stream.close()
