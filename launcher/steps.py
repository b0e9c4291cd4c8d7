"""Running one command of an install, bounded (CONTRACT.md, L4.4, L4.7, L4.11).

The command runs in a process group of its own, its output read line by line into the
log with every credential hidden. It may run for its step's time limit; past it, the
whole group is killed and the launcher says which command ran too long and which
setting sets the limit. Whatever the command leaves running (a build back end's
daemon) is ended with it, so that nothing of the install runs beside the job.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from .errors import EX_INSTALL, LauncherError
from .failures import scrub
from .log import Log

TYPE_CHECKING = False  # typing is not imported: every job would pay for it
if TYPE_CHECKING:
    import subprocess

# How long the output of a command may keep coming after the command itself ended and
# its process group was killed (a process that left the group may still hold its pipes).
DRAIN_SECONDS = 5
POLL_SECONDS = 0.05  # how often the command is looked at where the kernel has no pidfds
PR_SET_CHILD_SUBREAPER = 36  # prctl(2)


class Step:
    """One command of an install, the tool it runs, what its failures mean (a table like
    failures.INSTALL_FAILURES; a lock check has its own), and how long it may run."""

    def __init__(
        self,
        command: list[str],
        environ: dict[str, str],
        failures: tuple = (),
        tool: str = "uv",
        stdout_to: Path | None = None,
        timeout: float = 3600,
        timeout_setting: str = "LAUNCHER_INSTALL_TIMEOUT",
        timeout_hint: str = "raise it for a longer build",
    ) -> None:
        self.command = command
        self.environ = environ
        self.failures = failures
        self.tool = tool
        self.stdout_to = stdout_to  # a file that gets what the command prints
        self.timeout = timeout
        self.timeout_setting = timeout_setting
        self.timeout_hint = timeout_hint


class TimedOut(LauncherError):
    """A command ran past its time limit and was killed."""


def run_step(step: Step, log: Log, cwd: Path, secrets: tuple[str, ...]) -> tuple[int, list[str], list[str]]:
    """Run one command, every line of its output into the log; its exit code and output.

    One thread does it all (a container may allow few): it waits on the command's pipes
    and on the command itself at once, until the command has ended and its pipes are closed."""
    import subprocess

    log.step(f"run: {' '.join(step.command)}")
    started = time.monotonic()
    deadline = started + step.timeout
    try:
        process = subprocess.Popen(
            step.command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=step.environ,
            start_new_session=True,
        )
    except OSError as error:
        raise LauncherError(EX_INSTALL, f"cannot start {step.command[0]} ({error.strerror})") from error
    assert process.stdout is not None and process.stderr is not None
    streams = {
        process.stdout.fileno(): Lines("stdout", log, secrets),
        process.stderr.fileno(): Lines("stderr", log, secrets),
    }
    try:
        code = follow(process, streams, deadline)
    finally:
        end_group(process.pid)  # what the command left running ends with it
        process.stdout.close()
        process.stderr.close()
    if code is None:
        log.step(f"stopped after {step.timeout:g} s ({step.timeout_setting})")
        raise TimedOut(
            EX_INSTALL,
            f"{step.tool} ran for more than {step.timeout:g} s and was stopped ({step.timeout_setting} sets the "
            f"limit; {step.timeout_hint})",
        )
    log.step(f"exit {code} after {time.monotonic() - started:.2f} s")
    out, err = (stream.finish() for stream in streams.values())
    return code, out, err


def follow(process: subprocess.Popen, streams: dict[int, Lines], deadline: float) -> int | None:
    """Read the process's pipes until it has ended and they are closed; its exit code, or None
    when the deadline came first (the process is then killed)."""
    import selectors

    selector = selectors.DefaultSelector()
    for fd in streams:
        selector.register(fd, selectors.EVENT_READ)
    try:
        exited = os.pidfd_open(process.pid)
        selector.register(exited, selectors.EVENT_READ)
    except OSError:  # a kernel without pidfds: look at the process now and then
        exited = None
    code = None
    drain_until = None
    try:
        while True:
            code = process.poll() if code is None else code
            if code is not None and drain_until is None:
                end_group(process.pid)  # nothing it started may keep its pipes open for ever
                drain_until = time.monotonic() + DRAIN_SECONDS
            if code is not None and (len(selector.get_map()) == (exited is not None) or time.monotonic() > drain_until):
                return code
            now = time.monotonic()
            if now >= deadline:
                end_group(process.pid)
                process.wait()
                return None
            wait = min(deadline, drain_until or deadline) - now
            for key, _ in selector.select(wait if exited is not None else min(wait, POLL_SECONDS)):
                if key.fd == exited:
                    selector.unregister(exited)
                    os.close(exited)
                    exited = None
                    continue
                data = os.read(key.fd, 1 << 16)
                if data:
                    streams[key.fd].take(data)
                else:
                    selector.unregister(key.fd)
    finally:
        if exited is not None:
            os.close(exited)
        selector.close()


class Lines:
    """One stream of a command's output: cut into lines, credentials hidden, each line logged as it comes."""

    def __init__(self, label: str, log: Log, secrets: tuple[str, ...]) -> None:
        self.label = label
        self.log = log
        self.secrets = secrets
        self.pending = b""
        self.lines: list[str] = []

    def take(self, data: bytes) -> None:
        *complete, self.pending = (self.pending + data).split(b"\n")
        for line in complete:
            self.add(line)

    def add(self, raw: bytes) -> None:
        line = scrub(raw.decode("utf-8", "replace").rstrip("\r"), self.secrets)
        self.log.write(f"{self.label}| {line}")
        self.lines.append(line)

    def finish(self) -> list[str]:
        if self.pending:
            self.add(self.pending)
            self.pending = b""
        return self.lines


def end_group(group: int) -> None:
    """Kill what is left of a command: its process group, then any process it started that left
    the group (a daemon that called setsid), which the launcher adopted as their subreaper."""
    try:
        os.killpg(group, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    while orphans := children():
        for pid in orphans:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for pid in orphans:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def adopt_orphans() -> None:
    """Make the launcher the subreaper of what its tools start: a process they leave behind, in any
    process group, becomes its child and is ended with the tool. The job is not one (run.hand_over)."""
    set_subreaper(1)


def set_subreaper(on: int) -> None:
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, on, 0, 0, 0)


def children() -> list[int]:
    """The launcher's child processes, from /proc."""
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as status:
                fields = status.read().rpartition(b")")[2].split()
        except OSError:
            continue
        if len(fields) > 1 and fields[1] == str(me).encode():
            found.append(int(entry))
    return found
