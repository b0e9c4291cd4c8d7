#!/usr/bin/env python3
"""Make the DuckDB CLI report a query that fails after its first rows, in every output mode.

  usage: materialize-row-modes.py DUCKDB   (the CLI as its wheel ships it, before `strip`)

The CLI streams the results of its row-wise modes (csv, json, jsonlines, line, list, ascii,
html, quote, insert, tcl) and takes a fetch that fails for the end of the result: a query
that fails a million rows in prints part of its result and exits 0
(https://github.com/duckdb/duckdb/issues/16574; tools/shell/shell_renderer.cpp,
RenderingQueryResult::TryConvertChunk). The table modes (duckbox, box, table, markdown,
...) materialize the result before printing it, and report the error. This makes
RowRenderer::RequireMaterializedResult() return true, so that every mode does the same
(CONTRACT.md, D6.2).

It rewrites one instruction of that function, found by its symbol, and refuses, with one
line on stderr and exit 1, a binary without a symbol table, one without the function, and
one whose function is not the one this patch was written for (x86-64 and aarch64).
"""

import struct
import sys
from pathlib import Path
from typing import NamedTuple

PROGRAM = "materialize-row-modes"
ISSUE = "https://github.com/duckdb/duckdb/issues/16574"
SYMBOL = b"_ZNK12duckdb_shell11RowRenderer25RequireMaterializedResultEv"


class Patch(NamedTuple):
    name: str
    size: int  # the function's size in the symbol table
    shipped: bytes  # what the function starts with, as the wheel ships it
    patched: bytes  # what makes it return true


# By ELF machine (e_machine).
PATCHES = {
    # `xor eax, eax; ret`, then the 10-byte nop that pads it, become `mov eax, 1; ret`,
    # which ends inside that nop.
    62: Patch("x86-64", 3, bytes.fromhex("31c0c3662e0f1f84"), bytes.fromhex("b801000000c3")),
    # `mov w0, #0; ret` becomes `mov w0, #1; ret`.
    183: Patch("aarch64", 8, bytes.fromhex("00008052c0035fd6"), bytes.fromhex("20008052c0035fd6")),
}

# ELF64, little-endian (the System V gABI's Elf64_Ehdr, Elf64_Shdr and Elf64_Sym).
ELF64_LE = b"\x7fELF\x02\x01"
MACHINE_AT = 0x12
SECTION_TABLE_AT = 0x28
SECTION_COUNT_AT = 0x3A
SECTION_HEADER = struct.Struct("<IIQQQQIIQQ")  # name, type, flags, address, offset, size, link, ...
SYMBOL_ENTRY = struct.Struct("<IBBHQQ")  # name, info, other, section, value, size
SHT_SYMTAB = 2


class Refused(Exception):
    """The binary is not one this patch fits; the message says what was found."""


class Section(NamedTuple):
    kind: int
    address: int
    offset: int
    size: int
    link: int


def sections(elf: bytes) -> list[Section]:
    (table_at,) = struct.unpack_from("<Q", elf, SECTION_TABLE_AT)
    entry_size, count = struct.unpack_from("<HH", elf, SECTION_COUNT_AT)
    found = []
    for index in range(count):
        _, kind, _, address, offset, size, link, *_ = SECTION_HEADER.unpack_from(elf, table_at + index * entry_size)
        found.append(Section(kind, address, offset, size, link))
    return found


def find_function(elf: bytes, path: Path) -> tuple[int, int]:
    """The file offset and the size of the function SYMBOL, from the symbol table."""
    table = sections(elf)
    symbol_tables = [section for section in table if section.kind == SHT_SYMTAB]
    if not symbol_tables:
        raise Refused(f"{path} has no symbol table: run this on the CLI from the wheel, before strip")
    wanted = SYMBOL + b"\0"
    for symbols in symbol_tables:
        names = table[symbols.link].offset
        for entry in range(symbols.offset, symbols.offset + symbols.size, SYMBOL_ENTRY.size):
            name_at, _, _, section, value, size = SYMBOL_ENTRY.unpack_from(elf, entry)
            if elf[names + name_at : names + name_at + len(wanted)] == wanted and 0 < section < len(table):
                home = table[section]
                return home.offset + value - home.address, size
    raise Refused(
        f"{path} has no function {SYMBOL.decode()}: this CLI is not the one the patch was written for;"
        f" if {ISSUE} is fixed in it, remove the patch, else write one for it"
    )


def patch_for(elf: bytes, path: Path) -> Patch:
    if elf[: len(ELF64_LE)] != ELF64_LE:
        raise Refused(f"{path} is not a 64-bit little-endian ELF file")
    (machine,) = struct.unpack_from("<H", elf, MACHINE_AT)
    if machine not in PATCHES:
        known = ", ".join(f"{patch.name} ({number})" for number, patch in PATCHES.items())
        raise Refused(f"{path} is for ELF machine {machine}; this patch is for {known} only")
    return PATCHES[machine]


def materialize_row_modes(path: Path) -> None:
    """Patch the CLI at path in place, or raise Refused and leave it as it was."""
    elf = bytearray(path.read_bytes())
    try:
        patch = patch_for(elf, path)
        offset, size = find_function(elf, path)
    except (struct.error, IndexError):
        raise Refused(f"{path} is not a whole ELF file: its headers point past its {len(elf)} bytes") from None
    found = bytes(elf[offset : offset + len(patch.shipped)])
    if (size, found) != (patch.size, patch.shipped):
        raise Refused(
            f"{path}: {SYMBOL.decode()} is {size} bytes starting with {found.hex()}, not {patch.size} bytes"
            f" starting with {patch.shipped.hex()}: this CLI is not the one the patch was written for;"
            f" if {ISSUE} is fixed in it, remove the patch, else write one for it"
        )
    elf[offset : offset + len(patch.patched)] = patch.patched
    path.write_bytes(elf)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(f"usage: {PROGRAM}.py DUCKDB", file=sys.stderr)
        return 2
    path = Path(argv[0])
    try:
        materialize_row_modes(path)
    except (Refused, OSError) as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        return 1
    print(f"{PROGRAM}: {path}: every output mode now prints from the whole result ({ISSUE})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
