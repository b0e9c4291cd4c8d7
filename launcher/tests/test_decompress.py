import bz2
import gzip
import lzma
import zlib

import pytest

from launcher import decompress

DATA = b"".join(b"line %d of the data\n" % i for i in range(50_000))  # about 1 MB
COMPRESS = {"gzip": lambda d: gzip.compress(d, mtime=0), "bzip2": bz2.compress, "xz": lzma.compress}


def read_all(tmp_path, kind: str, content: bytes) -> bytes:
    source = tmp_path / "bundle"
    source.write_bytes(content)
    chunks = list(decompress.decompressed(source, kind))
    assert all(len(chunk) <= decompress.CHUNK for chunk in chunks)
    return b"".join(chunks)


@pytest.mark.parametrize("kind", COMPRESS)
def test_one_stream(tmp_path, kind):
    assert read_all(tmp_path, kind, COMPRESS[kind](DATA)) == DATA


@pytest.mark.parametrize("kind", COMPRESS)
def test_streams_one_after_another_and_zero_padding(tmp_path, kind):
    content = COMPRESS[kind](DATA[:1000]) + COMPRESS[kind](DATA[1000:]) + bytes(4096)
    assert read_all(tmp_path, kind, content) == DATA


@pytest.mark.parametrize("kind", COMPRESS)
def test_a_stream_cut_short(tmp_path, kind):
    with pytest.raises(EOFError, match="the stream ends early"):
        read_all(tmp_path, kind, COMPRESS[kind](DATA)[:-10])


@pytest.mark.parametrize("kind", COMPRESS)
def test_something_after_the_last_stream(tmp_path, kind):
    with pytest.raises(decompress.TrailingData):
        read_all(tmp_path, kind, COMPRESS[kind](DATA) + b"\0\0junk")


@pytest.mark.parametrize(("offset", "message"), [(-8, "incorrect data check"), (-1, "incorrect length check")])
def test_a_gzip_trailer_that_does_not_match(tmp_path, offset, message):
    content = bytearray(COMPRESS["gzip"](DATA))
    content[offset] ^= 0x01
    with pytest.raises(zlib.error, match=message):
        read_all(tmp_path, "gzip", bytes(content))


@pytest.mark.parametrize("kind", ["bzip2", "xz"])
def test_a_damaged_stream(tmp_path, kind):
    content = bytearray(COMPRESS[kind](DATA))
    content[len(content) // 2] ^= 0xFF
    with pytest.raises((OSError, lzma.LZMAError, EOFError)):
        read_all(tmp_path, kind, bytes(content))


def test_a_bomb_comes_out_a_chunk_at_a_time(tmp_path):
    source = tmp_path / "bomb"
    source.write_bytes(gzip.compress(bytes(64 << 20), mtime=0))  # 64 MiB in about 64 KB
    sizes = [len(chunk) for chunk in decompress.decompressed(source, "gzip")]
    assert sum(sizes) == 64 << 20
    assert max(sizes) <= decompress.CHUNK
