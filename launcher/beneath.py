"""Paths beneath the extraction root, looked up and removed without following a link
(CONTRACT.md, L2.1 and L2.6).

While a bundle is extracted, its links may point anywhere: a link to `.` and another to
`d/..` together lead out of the root although each stays inside on paper. So nothing
here follows a link: paths are taken one directory at a time, relative to a handle on
the root, each opened with O_NOFOLLOW, and a link met on the way ends the lookup. A tree
is removed with two handles open at a time, however deep it is.
"""

from __future__ import annotations

import os
import stat

DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_LINKS = 40  # links followed in one lookup before it is a loop, as the kernel counts them


def parts(path: bytes) -> list[bytes]:
    return [part for part in path.split(b"/") if part and part != b"."]


def open_parent(root_fd: int, path: bytes) -> tuple[int, bytes] | None:
    """A handle on the directory that holds path (relative, without '..'), and its last name;
    None when a directory on the way is missing or is not a directory (a link included)."""
    names = parts(path)
    if not names:
        return None
    fd = os.dup(root_fd)
    try:
        for name in names[:-1]:
            inner = os.open(name, DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
    except OSError:
        os.close(fd)
        return None
    return fd, names[-1]


def lstat_beneath(root_fd: int, path: bytes) -> os.stat_result | None:
    """The status of path itself, reached through directories only; None when it cannot be."""
    found = open_parent(root_fd, path)
    if found is None:
        return None
    fd, name = found
    try:
        return os.lstat(name, dir_fd=fd)
    except OSError:
        return None
    finally:
        os.close(fd)


def remove_beneath(root_fd: int, path: bytes) -> None:
    """Remove what is at path (a file, a link, or a directory with all in it), when it can be
    reached through directories only; a link is removed as a link."""
    found = open_parent(root_fd, path)
    if found is not None:
        fd, name = found
        try:
            remove_tree(fd, name)
        finally:
            os.close(fd)


def empty(directory_fd: int) -> None:
    """Remove everything in a directory, keeping it."""
    with os.scandir(directory_fd) as entries:
        names = [entry.name for entry in entries]
    for name in names:
        remove_tree(directory_fd, name)


def remove_tree(parent_fd: int, name: bytes | str) -> None:
    """Remove name from the directory parent_fd: a file or a link, or a directory and all in it
    (entered without following links, left through '..')."""
    try:
        mode = os.lstat(name, dir_fd=parent_fd).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(mode):
        os.unlink(name, dir_fd=parent_fd)
        return
    fd = os.open(name, DIRECTORY, dir_fd=parent_fd)
    levels: list[tuple[bytes | str, list[str] | None]] = [
        (name, None)
    ]  # each directory entered, its subdirectories left
    while levels:
        here, pending = levels[-1]
        if pending is None:
            pending = []
            with os.scandir(fd) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.name)
                    else:
                        os.unlink(entry.name, dir_fd=fd)
            levels[-1] = (here, pending)
        if pending:
            child = pending.pop()
            inner = os.open(child, DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
            levels.append((child, None))
            continue
        levels.pop()
        if levels:
            outer = os.open("..", DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = outer
            os.rmdir(here, dir_fd=fd)
        else:
            os.close(fd)
            os.rmdir(here, dir_fd=parent_fd)


def resolves_inside(root_fd: int, path: bytes) -> bool:
    """Whether path (relative to the root, without '..' in it), followed as the kernel would
    follow it, with every link on the way, stays beneath the root. Parts that do not exist
    are taken as directories, so that what a job may later make there is covered too."""
    pending = parts(path)
    pending.reverse()
    resolved: list[bytes] = []
    links = 0
    while pending:
        name = pending.pop()
        if name == b"..":
            if not resolved:
                return False
            resolved.pop()
            continue
        here = b"/".join([*resolved, name])
        try:
            mode = os.lstat(here, dir_fd=root_fd).st_mode
        except OSError:
            mode = stat.S_IFDIR  # missing: what follows is taken as written
        if stat.S_ISLNK(mode):
            links += 1
            if links > MAX_LINKS:
                return True  # a loop: nothing can follow it anywhere
            target = os.readlink(here, dir_fd=root_fd)
            if target.startswith(b"/"):
                return False
            more = parts(target)
            more.reverse()
            pending += more
            continue
        resolved.append(name)
    return True
