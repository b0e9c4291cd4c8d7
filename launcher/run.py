"""Stage 6: hand the process over to the job's command (CONTRACT.md, L6).

The launcher replaces itself with the command (exec), so the job keeps its PID, its
signals and its exit code. It starts as a fresh process would: default signal
dispositions, an empty signal mask, the environment the container was given (plus
the job environment's PATH), and an init as PID 1 even where the orchestrator
replaced the image's entrypoint.
"""

from __future__ import annotations

import os
import signal
import stat
import sys
from pathlib import Path

from .errors import EX_NOEXEC, EX_NOTFOUND, LauncherError
from .log import say
from .settings import Settings
from .steps import set_subreaper

TYPE_CHECKING = False  # typing is not imported: every job would pay for it
if TYPE_CHECKING:
    from typing import NoReturn

# The init that reaps orphans and forwards signals, as the image's entrypoint runs it.
TINI = "/usr/bin/tini"
# rt_sigaction and rt_sigprocmask, by machine (the images' platforms).
SYSCALLS = {"x86_64": (13, 14), "aarch64": (134, 135)}
SIGNAL_COUNT = 64
SIGSET_SIZE = 8  # the kernel's sigset_t: 64 signals
KERNEL_SIGACTION_SIZE = 32  # handler, flags, restorer, mask
SIG_SETMASK = 2


def ensure_init(environ: dict[str, str]) -> None:
    """Start again under tini when this process is PID 1.

    An orchestrator that replaces the image's entrypoint (Bacalhau's custom job types
    set it to []) makes the launcher PID 1, and so the job after it: the kernel then
    drops signals it has no handler for, and nothing reaps orphans. tini as PID 1
    restores both; the launcher runs as its child, with the environment it was given.
    """
    if os.getpid() != 1 or not os.access(TINI, os.X_OK):
        return
    os.execve(TINI, [TINI, "--", *sys.orig_argv], environ)


# What the job gets of uv's settings, so that `uv run` as its command runs in the environment
# the launcher prepared, with no second install: that environment, and no sync.
UV_FOR_THE_JOB = ("UV_PROJECT_ENVIRONMENT", "UV_NO_SYNC")


def job_environment(settings: Settings, env: Path) -> dict[str, str]:
    """The job's environment: the container's, unchanged, with env's bin first on PATH when it is
    not the image's, and a HOME the job can write when the container's is not (L6.7)."""
    environment = dict(settings.environ)
    if env != settings.base_env:
        environment["VIRTUAL_ENV"] = str(env)
        environment["PATH"] = f"{env / 'bin'}{os.pathsep}{environment.get('PATH', os.defpath)}"
    home = writable_home(settings.workdir, environment.get("HOME", ""))
    if home:
        environment["HOME"] = home
    for name, value in zip(UV_FOR_THE_JOB, (str(env), "1"), strict=True):
        environment.setdefault(name, value)  # unless the job sets them
    return environment


def writable_home(workdir: Path, home: str) -> str | None:
    """A HOME for a job whose own is missing or not writable by its uid (a uid the image has no
    account for gets `/`): NAME-home beside the working directory, or NAME-home-UID when that
    one is another uid's, the uid's own; None when home will do. When neither can be had, one
    line says so and the job keeps what it was given."""
    if home and os.path.isdir(home) and os.access(home, os.W_OK | os.X_OK):
        return None
    uid = os.getuid()
    for place in (workdir.parent / f"{workdir.name}-home", workdir.parent / f"{workdir.name}-home-{uid}"):
        try:
            os.mkdir(place, 0o700)
            return str(place)
        except FileExistsError:
            info = os.lstat(place)
            if stat.S_ISDIR(info.st_mode) and info.st_uid == uid:
                return str(place)  # this uid's, from a run before (a restart)
        except OSError:
            break
    say(f"HOME={home or '(unset)'} is not writable by uid {uid}, and no folder beside {workdir} could be made for it")
    return None


def reset_signals() -> None:
    """Give every signal its default action and unblock all: Python ignores SIGPIPE and
    SIGXFSZ, an engine may start the container with others ignored (Debian's dockerd 20.10
    ignores 32), and an ignored signal stays ignored across exec.

    The system calls do it for every signal; Python's signal module refuses 32 and 33, which
    the C library keeps for itself. Where the calls' numbers are not known, the module does
    what it can."""
    numbers = SYSCALLS.get(os.uname().machine)
    if numbers is not None:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        action = ctypes.create_string_buffer(KERNEL_SIGACTION_SIZE)  # all zero: SIG_DFL, no flags, empty mask
        sigaction, sigprocmask = numbers
        for number in range(1, SIGNAL_COUNT + 1):
            if number not in (signal.SIGKILL, signal.SIGSTOP):
                libc.syscall(sigaction, number, action, None, SIGSET_SIZE)
        libc.syscall(sigprocmask, SIG_SETMASK, action, None, SIGSET_SIZE)
        return
    for number in signal.valid_signals():
        if number in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(number, signal.SIG_DFL)
        except (OSError, ValueError):
            pass  # signals the C library keeps for itself
    signal.pthread_sigmask(signal.SIG_SETMASK, ())


def interpreter(path: str) -> str | None:
    """The interpreter named on a script's #! line, or None."""
    try:
        with open(path, "rb") as file:
            first = file.readline(256)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].split()
    return words[0].decode("utf-8", "replace") if words else None


def why_not_executable(name: str, environment: dict[str, str]) -> str:
    """Why exec refused name: a directory, a file without its x bits, or a filesystem mounted noexec."""
    path = name if os.sep in name else found_on_path(name, environment.get("PATH", os.defpath))
    if path and os.path.isdir(path):
        return "is a directory"
    try:
        mode = os.stat(path).st_mode if path else 0
        noexec = bool(path) and bool(os.statvfs(path).f_flag & os.ST_NOEXEC)
    except OSError:
        mode, noexec = 0, False
    if noexec and mode & 0o111:
        return (
            f"is on a filesystem mounted noexec ({path}); mount it with exec (such as --tmpfs /tmp:exec), "
            "or run it with its interpreter"
        )
    return "is not executable (chmod +x it, or run it with its interpreter)"


def found_on_path(name: str, path: str) -> str | None:
    """The first file named name on path, as exec looks for it (whether it may run or not)."""
    for directory in path.split(os.pathsep):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) or os.path.isdir(candidate):
            return candidate
    return None


# Project tools a job may name as its command that the image does not have, and what to run
# instead: the launcher has already installed what the project declares.
RUN_ITSELF = "run the command itself, such as `python main.py`: the launcher has installed the requirements"
DECLARE = "declare them with requirements.txt or pyproject.toml"
MISSING_TOOLS = {
    "hatch": f"Hatch is not in the image; {RUN_ITSELF}",
    "poetry": f"Poetry is not on PATH (the launcher reads poetry.lock with its own); {RUN_ITSELF}",
    "pipenv": f"Pipenv is not on PATH (the launcher reads Pipfile.lock with its own); {RUN_ITSELF}",
    "pdm": f"PDM is not in the image; {RUN_ITSELF} (export pdm.lock with `pdm export -o requirements.txt`)",
    **{tool: f"{tool} is not in the image; {RUN_ITSELF} ({DECLARE})" for tool in ("conda", "mamba", "micromamba")},
}


def hand_over(command: list[str], workdir: Path, environment: dict[str, str]) -> NoReturn:
    """Replace this process with the user's command (it keeps the PID, signals and exit code)."""
    os.chdir(workdir)
    reset_signals()
    set_subreaper(0)  # the job's orphans go to the init, as in any container
    name = command[0]
    try:
        os.execvpe(name, command, environment)
    except FileNotFoundError as error:
        # A file that exists but cannot be found to run has a #! line naming a missing interpreter.
        if os.sep in name and os.path.isfile(name) and (program := interpreter(name)):
            raise LauncherError(
                EX_NOEXEC, f"cannot run {name!r}: its interpreter {program!r} (from its #! line) does not exist"
            ) from error
        where = "" if os.sep in name else " on PATH"
        hint = f" ({MISSING_TOOLS[name]})" if name in MISSING_TOOLS else ""
        raise LauncherError(EX_NOTFOUND, f"command not found{where}: {name!r}{hint}") from error
    except PermissionError as error:
        raise LauncherError(EX_NOEXEC, f"command {name!r} {why_not_executable(name, environment)}") from error
    except OSError as error:
        raise LauncherError(EX_NOEXEC, f"cannot run {name!r}: {error.strerror}") from error
    except ValueError as error:  # a name exec cannot take at all (empty)
        raise LauncherError(EX_NOTFOUND, f"command not found: {name!r} ({error})") from error
