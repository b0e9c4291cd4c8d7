#!/usr/bin/env python3
"""Fuzz the bundle stage with generated and mutated tar, tgz, tbz2, txz and zip bundles.

usage: bundle.py CORPUS_DIR [libFuzzer flags...]   (make fuzz runs it)

The first byte of an input says how the rest becomes a bundle file:
- 0-3: as it is, or as a tar compressed here with gzip, bzip2 or xz, so that
  mutations reach the tar inside a compressed stream as well as the stream itself;
  the mutator rewrites the checksum of every tar header it finds, so that mutated
  headers are read rather than refused as damaged;
- 4-7: a program that generates a tar, member by member (any type, names with `..`,
  absolute paths and links, pax and GNU headers with any size, sparse maps), then
  compressed as above.
The seeds are the scenario bundles of conformance/fixtures/make_bundle.py.

After each input, these must hold (else the fuzzer stops and keeps the input):
- the extraction succeeds, or fails with the launcher's exit 65 (no other error);
- nothing is written outside the root (beside it, or in / and /tmp when make fuzz
  gives the target a /tmp of its own), and no symlink under it leads out;
- a refused bundle leaves the root empty;
- an extracted one has at most LAUNCHER_MAX_MEMBERS entries and LAUNCHER_MAX_BYTES
  bytes (every name counted, hardlinks too), no device, FIFO or socket, and no
  setuid or setgid bit.
"""

from __future__ import annotations

import bz2
import errno
import gzip
import lzma
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "conformance" / "fixtures")]

with atheris.instrument_imports(include=["launcher"]):
    from launcher import bundle, settings
    from launcher.errors import EX_BUNDLE, LauncherError

import make_bundle  # noqa: E402

MAX_BYTES = 64 << 10
MAX_MEMBERS = 64
WRAPPERS = (
    lambda data: data,
    lambda data: gzip.compress(data, compresslevel=1, mtime=0),
    lambda data: bz2.compress(data, 1),
    lambda data: lzma.compress(data, preset=0),
)
# What generated members are made of.
SEGMENTS = (b"a", b"b", b"sub", b"..", b".", b"", b"link", b"\xff\xfe", b"x" * 100, b".venv", b"pyvenv.cfg", b"._a")
TYPES = (b"0", b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"x", b"g", b"L", b"K", b"S", b"D", b"\0")
PAX_KEYS = (b"path", b"linkpath", b"size", b"mtime", b"uid", b"GNU.sparse.realsize", b"GNU.sparse.map", b"hdrcharset")
SIZES = (0, 1, 100, 511, 512, 4096, 65535, 65537, 1 << 20, 1 << 33, 1 << 62, -1)
# Scenarios too large for a fuzzer's seed, and what makes them hostile stays in the others.
LARGE = ("large", "hardlink-copies", "long-name-2g", "pax-header-2g")

# make fuzz gives the target a /tmp of its own (a tmpfs in a mount namespace), where
# nothing else writes: then anything new there, or in /, was written by an input.
PRIVATE_TMP = os.environ.get("FUZZ_PRIVATE_TMP") == "1"
# A scratch directory: the root, in a cage that must stay as it is, and the bundle file.
SCRATCH = Path(tempfile.mkdtemp(prefix="fuzz-bundle-", dir="/tmp"))
CAGE = SCRATCH / "cage"
WORK = CAGE / "root"
SOURCE = SCRATCH / "bundle"
SETTINGS = settings.read(
    {
        "LAUNCHER_MAX_BYTES": str(MAX_BYTES),
        "LAUNCHER_MAX_MEMBERS": str(MAX_MEMBERS),
        "LAUNCHER_WORKDIR": str(WORK),
        "LAUNCHER_CODE": str(SOURCE),
    }
)
BEFORE = {place: set(os.listdir(place)) | {SCRATCH.name} for place in ("/", "/tmp")}


def seeds(corpus: Path) -> None:
    """Write the scenario bundles into the corpus: as they are, and (tars) to be compressed here."""
    corpus.mkdir(parents=True, exist_ok=True)
    names = [*make_bundle.TAR_SCENARIOS, *make_bundle.RAW_SCENARIOS]
    for name in names:
        if name in LARGE:
            continue
        tar = make_bundle.bundle_bytes(name)
        (corpus / f"seed-{name}.tar").write_bytes(bytes([1]) + tar)
        (corpus / f"seed-{name}.gen").write_bytes(bytes([5]) + tar[:2048])
        (corpus / f"seed-{name}.tgz").write_bytes(bytes([0]) + make_bundle.scenario(name))
    for name in [*make_bundle.ZIP_SCENARIOS, "damaged-crc", "damaged-byte", "damaged-trailer"]:
        (corpus / f"seed-{name}").write_bytes(bytes([0]) + make_bundle.scenario(name))


def fix_checksums(tar: bytearray) -> bytearray:
    """Give every block that looks like a tar header (ustar magic) its right checksum."""
    for offset in range(0, len(tar) - 511, 512):
        if tar[offset + 257 : offset + 262] == b"ustar":
            tar[offset + 148 : offset + 156] = b" " * 8
            tar[offset + 148 : offset + 156] = b"%06o\0 " % sum(tar[offset : offset + 512])
    return tar


def mutate(data: bytes, max_size: int, seed: int) -> bytes:
    data = bytearray(atheris.Mutate(data, max_size))
    if data and data[0] % 8 < 4:
        data[1:] = fix_checksums(data[1:])
    return bytes(data)


def name(fdp: atheris.FuzzedDataProvider) -> bytes:
    """A path of a few segments (`..`, `.`, empty ones included), now and then absolute."""
    parts = [SEGMENTS[fdp.ConsumeIntInRange(0, len(SEGMENTS) - 1)] for _ in range(fdp.ConsumeIntInRange(1, 4))]
    path = b"/".join(parts).lstrip(b"/") or b"a"
    return b"/" + path if fdp.ConsumeIntInRange(0, 31) == 31 else path  # 0 when the input runs out


def generated(fdp: atheris.FuzzedDataProvider) -> bytes:
    """A tar made member by member from the input: any type, name, link, mode and size."""
    tar = b""
    for _ in range(fdp.ConsumeIntInRange(0, 12)):
        kind = TYPES[fdp.ConsumeIntInRange(0, len(TYPES) - 1)]
        size = SIZES[fdp.ConsumeIntInRange(0, len(SIZES) - 1)]
        if kind in (b"x", b"g"):
            records = {
                PAX_KEYS[fdp.ConsumeIntInRange(0, len(PAX_KEYS) - 1)]: (
                    name(fdp) if fdp.ConsumeBool() else str(SIZES[fdp.ConsumeIntInRange(0, len(SIZES) - 1)]).encode()
                )
                for _ in range(fdp.ConsumeIntInRange(1, 3))
            }
            tar += make_bundle.pax(records)
            continue
        data = name(fdp) if kind in (b"L", b"K") else fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 2048))
        stored = size if 0 <= size <= len(data) else len(data)
        header = make_bundle.header(name(fdp), size, kind, name(fdp), mode=fdp.ConsumeIntInRange(0, 0o7777))
        tar += header + make_bundle.padded(data[:stored])
    if fdp.ConsumeBool():
        tar += make_bundle.END
    return tar


def bundle_file(data: bytes) -> bytes:
    mode, rest = data[0] % 8, data[1:]
    if mode >= 4:
        rest = generated(atheris.FuzzedDataProvider(rest))
    return WRAPPERS[mode % 4](rest)


def resolved(path: str) -> str | None:
    """Where the kernel takes path, links followed (None for a loop, which leads nowhere); for a
    link to something missing, where it would lead once that exists."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return None
        return os.path.realpath(path)
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


def check(outcome: LauncherError | None) -> None:
    if set(os.listdir(CAGE)) != {"root"}:
        raise AssertionError(f"written beside the root: {os.listdir(CAGE)}")
    for place, before in BEFORE.items() if PRIVATE_TMP else ():
        if not set(os.listdir(place)) <= before:
            raise AssertionError(f"written outside the root, in {place}: {set(os.listdir(place)) - before}")
    if outcome is not None:
        if outcome.code != EX_BUNDLE:
            raise AssertionError(f"exit {outcome.code}, not {EX_BUNDLE}: {outcome}")
        if os.listdir(WORK):
            raise AssertionError(f"a refused bundle left {os.listdir(WORK)}")
        return
    root = os.path.realpath(WORK)
    entries = size = 0
    for directory, dirs, files in os.walk(WORK):
        for entry in dirs + files:
            path = os.path.join(directory, entry)
            info = os.lstat(path)
            entries += 1
            if stat.S_ISLNK(info.st_mode):
                target = resolved(path)
                if target is not None and target != root and not target.startswith(root + os.sep):
                    raise AssertionError(f"symlink {path} leads to {target}")
            elif stat.S_ISREG(info.st_mode):
                size += info.st_size
                if info.st_mode & (stat.S_ISUID | stat.S_ISGID):
                    raise AssertionError(f"{path} kept setuid or setgid")
            elif not stat.S_ISDIR(info.st_mode):
                raise AssertionError(f"{path} is neither file, directory nor symlink: {oct(info.st_mode)}")
    if size > MAX_BYTES:
        raise AssertionError(f"{size} bytes extracted, over the cap of {MAX_BYTES}")
    if entries > MAX_MEMBERS:
        raise AssertionError(f"{entries} entries extracted, over the cap of {MAX_MEMBERS}")


def one_input(data: bytes) -> None:
    if not data:
        return
    SOURCE.write_bytes(bundle_file(data))
    WORK.mkdir()
    outcome: LauncherError | None = None
    try:
        bundle.extract(SOURCE, WORK, SETTINGS)
    except LauncherError as error:
        outcome = error
    try:
        check(outcome)
    finally:
        shutil.rmtree(WORK)


def main() -> None:
    args = sys.argv[1:]
    corpus = Path(args[0]) if args and not args[0].startswith("-") else None
    if corpus is not None:
        seeds(corpus)
    CAGE.mkdir()
    try:
        atheris.Setup([sys.argv[0], *args], one_input, custom_mutator=mutate)
        atheris.Fuzz()
    finally:
        shutil.rmtree(SCRATCH, ignore_errors=True)


if __name__ == "__main__":
    main()
