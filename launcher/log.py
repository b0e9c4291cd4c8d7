"""The launcher's lines on stderr, and /outputs/requirements.log (CONTRACT.md, L5 and L7.3).

Every line the launcher writes, on stderr or in the log, is one printable line: text
that comes from a bundle (names of files, an installer's output about them) cannot
end a line early, forge a `launcher:` line or reach the terminal as an escape.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import threading
import time
from pathlib import Path

NAME = "launcher"
LOG_NAME = "requirements.log"
# How the log is opened: never through a link, never waiting on a FIFO, never truncated.
LOG_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
# What a path that is not a regular file is, for messages.
FILE_TYPES = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
)


def printable(text: str) -> str:
    """text with every character that is not printable (line breaks, escapes, controls,
    bidirectional overrides, bytes that were not UTF-8) written as a Python escape."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def quoted(name: str | bytes) -> str:
    """A name from the bundle (or any value a user chose) in quotes, every character that is
    not printable escaped, bytes that are not UTF-8 as \\udcXX."""
    return repr(os.fsdecode(name))


def shown(name: str | bytes) -> str:
    """A name as messages show it: as it is when it is plain (printable, no spaces, quotes or
    commas), else quoted."""
    text = os.fsdecode(name)
    if text and text.isprintable() and not any(char in text for char in " ,'\"\\"):
        return text
    return quoted(text)


def say(message: str) -> None:
    """One line on stderr, prefixed so that it can be told apart from the job's."""
    print(f"{NAME}: {printable(message)}", file=sys.stderr, flush=True)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def what_is(path: Path) -> str:
    """What path is, when it is not a regular file."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return "not a regular file"
    return next((name for test, name in FILE_TYPES if test(mode)), "not a regular file")


class Log:
    """Appends every step to OUTPUTS/requirements.log when OUTPUTS exists; flushes each line.

    Whatever happens to the file, the job goes on: a log that cannot be written is
    reported once on stderr and then left alone, and nothing already there is changed.
    """

    def __init__(self, file: object | None, path: Path | None = None) -> None:
        self.file = file
        self.path = path
        self.lock = threading.Lock()

    @classmethod
    def open(cls, outputs: Path) -> Log:
        if not outputs.is_dir():
            if os.path.lexists(outputs):
                say(f"{outputs} is not a directory; going on without the log")
            return cls(None)
        path = outputs / LOG_NAME
        try:
            fd = os.open(path, LOG_FLAGS, 0o666)
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR, errno.EWOULDBLOCK):
                say(f"{path} is {what_is(path)}, not a regular file; going on without the log")
            else:
                say(f"cannot write {path} ({error.strerror}); going on without the log")
            return cls(None)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            say(f"{path} is {what_is(path)}, not a regular file; going on without the log")
            return cls(None)
        os.set_blocking(fd, True)
        return cls(open(fd, "a", encoding="utf-8", errors="backslashreplace", buffering=1), path)

    def write(self, line: str) -> None:
        if self.file is None:
            return
        with self.lock:
            try:
                self.file.write(printable(line.rstrip("\n")) + "\n")
            except OSError as error:
                self.file = None
                say(f"cannot write {self.path} any more ({error.strerror}); going on without the log")

    def step(self, text: str) -> None:
        self.write(f"== {now()} {text}")

    def close(self) -> None:
        if self.file is not None:
            try:
                self.file.close()
            except OSError as error:
                say(f"cannot finish {self.path} ({error.strerror}); its last lines may be missing")
            self.file = None
