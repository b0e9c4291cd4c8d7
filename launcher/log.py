"""The launcher's lines on stderr, and /outputs/requirements.log (CONTRACT.md, L5)."""

from __future__ import annotations

import io
import sys
import threading
import time
from pathlib import Path

NAME = "launcher"
LOG_NAME = "requirements.log"


def say(message: str) -> None:
    """One line on stderr, prefixed so that it can be told apart from the job's."""
    print(f"{NAME}: {message}", file=sys.stderr, flush=True)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Log:
    """Appends every step to OUTPUTS/requirements.log when OUTPUTS exists; flushes each line.

    Whatever happens to the file, the job goes on: a log that cannot be written is
    reported once on stderr and then left alone, and nothing already there is changed.
    """

    def __init__(self, file: io.TextIOWrapper | None, path: Path | None = None) -> None:
        self.file = file
        self.path = path
        self.lock = threading.Lock()

    @classmethod
    def open(cls, outputs: Path) -> Log:
        if not outputs.is_dir():
            if outputs.exists():
                say(f"{outputs} is not a directory; going on without the log")
            return cls(None)
        path = outputs / LOG_NAME
        try:
            return cls(path.open("a", encoding="utf-8", errors="backslashreplace", buffering=1), path)
        except OSError as error:
            say(f"cannot write {path} ({error.strerror}); going on without the log")
            return cls(None)

    def write(self, line: str) -> None:
        if self.file is None:
            return
        with self.lock:
            try:
                self.file.write(line.rstrip("\n") + "\n")
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
