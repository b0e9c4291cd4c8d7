"""Each entry of a bundle, put through the policy and written by libarchive (CONTRACT.md, L1.7, L2).

The entries come from libarchive's reader of an archive, or its walk of a directory; the
policy (policy.py) decides from names and numbers, and what needs the disk is looked at
beneath the root without following links (beneath.py): the member a hardlink names, the
folders left out as virtual environments, and, at the end, where every symlink leads.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from . import beneath
from .errors import EX_BUNDLE, LauncherError
from .log import quoted
from .policy import (
    REFUSED_TYPES,
    VENV_MARK,
    Caps,
    LeftOut,
    hardlink_refusal,
    longest_path,
    name_refusal,
    normal_path,
    symlink_refusal,
    usable_mode,
)

TYPE_CHECKING = False  # typing is not imported: every job would pay for it
if TYPE_CHECKING:
    from .libarchive import DiskWriter, Reader


class Entries:
    """The entries of one bundle (source, of the given kind: "directory", "zip" or a tar),
    written into the root that root_fd holds open."""

    def __init__(self, source: Path, kind: str, root: Path, root_fd: int, caps: Caps, left_out: LeftOut) -> None:
        from . import libarchive

        self.lib = libarchive
        self.source = source
        self.kind = kind
        self.root_fd = root_fd
        self.caps = caps
        self.left_out = left_out
        self.longest = longest_path(root)
        # Symlinks refused, kept until the end: inside a virtual environment found later, they are left out.
        self.refused_links: list[tuple[bytes, str]] = []
        self.symlinks: list[bytes] = []
        self.members: set[bytes] = set()  # paths written, for a zip: one name may not come twice
        self.name = b""  # the entry being written, for messages

    def refused(self, name: bytes, reason: str) -> LauncherError:
        return LauncherError(EX_BUNDLE, f"{self.source}: refused member {quoted(name)}: {reason}")

    def write_all(self, reader: Reader, writer: DiskWriter) -> int:
        """Write every entry the reader gives; returns how many bytes the end-of-archive marker took."""
        lib = self.lib
        directory = self.kind == "directory"
        while True:
            before = reader.position()
            entry = reader.next_entry()
            if entry is None:
                return reader.position() - before
            self.name = name = lib.entry_pathname(entry) or b""
            kind = lib.entry_filetype(entry) & lib.AE_IFMT
            if directory:
                if name == b".":
                    reader.descend()
                    continue
                name = name[2:]  # the walk names entries `./a/b`
                lib.entry_copy_pathname(entry, name)
                if kind != lib.AE_IFREG:
                    lib.entry_set_size(entry, 0)  # the walk gives a directory's or a link's own size
            reason = name_refusal(name, self.longest)
            if reason:
                raise self.refused(name, reason)
            path = normal_path(name)
            if self.leaves_out(path, kind == lib.AE_IFDIR):
                if not directory:
                    reader.skip()
                continue
            if directory and kind == lib.AE_IFDIR:
                reader.descend()
            self.caps.count(path, kind == lib.AE_IFDIR)
            link = lib.entry_hardlink(entry)
            reason = self.refusal(entry, path, kind, link)
            if reason and kind == lib.AE_IFLNK:
                self.refused_links.append((path, str(self.refused(name, reason))))
                if not directory:
                    reader.skip()
                continue
            if reason:
                raise self.refused(name, reason)
            size = max(lib.entry_size(entry), 0)
            if link is not None:  # counted at the size of what it links to, as a copy would be
                target = beneath.lstat_beneath(self.root_fd, normal_path(link))
                size = max(size, target.st_size if target else 0)
            self.caps.add(size, name)
            write(lib, reader, writer, entry, kind == lib.AE_IFDIR, self.caps, name, size)
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
            reason = hardlink_refusal(link)
            if reason:
                return reason
            target = beneath.lstat_beneath(self.root_fd, normal_path(link))
            if target is None:
                return f"hardlink to {quoted(link)}, which the bundle has not made before it"
            if stat.S_ISLNK(target.st_mode):
                return f"hardlink to the symlink {quoted(link)}"
        return None

    def check_links(self) -> None:
        """At the end, when every link the bundle makes exists: a refused symlink that was not left
        out refuses the bundle, and every symlink made must still resolve inside it."""
        refused = [reason for path, reason in self.refused_links if not self.left_out.skips(path)]
        if refused:
            raise LauncherError(EX_BUNDLE, refused[0])
        for name in self.symlinks:
            info = beneath.lstat_beneath(self.root_fd, name)
            if info and stat.S_ISLNK(info.st_mode) and not beneath.resolves_inside(self.root_fd, name):
                raise self.refused(name, "symlink points outside the bundle through the links made after it")


def write(
    lib: object, reader: Reader, writer: DiskWriter, entry: int, is_dir: bool, caps: Caps, name: bytes, size: int
) -> None:
    """Write one entry (counted at size), its mode made usable; data beyond the size its header
    declared is counted against the caps too, before it is written."""
    perm = lib.entry_perm(entry)
    usable = usable_mode(perm, is_dir)
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
