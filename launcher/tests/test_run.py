import os
import re
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from launcher import run
from launcher.errors import LauncherError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("files", "command", "code", "message"),
    [
        ({}, "no-such-command", 127, "command not found on PATH: 'no-such-command'"),
        ({}, "./missing.sh", 127, "command not found: './missing.sh'"),
        ({"plain.sh": ("#!/bin/sh\n", 0o644)}, "./plain.sh", 126, "command './plain.sh' is not executable"),
        ({"tools/.keep": ("", 0o644)}, "./tools", 126, "command './tools' is a directory"),
        (
            {"orphan.sh": ("#!/no/such/interpreter -x\n", 0o755)},
            "./orphan.sh",
            126,
            "its interpreter '/no/such/interpreter' (from its #! line) does not exist",
        ),
    ],
)
def test_a_command_that_cannot_run_says_why(tmp_path, monkeypatch, files, command, code, message):
    for name, (content, mode) in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content)
        (tmp_path / name).chmod(mode)
    monkeypatch.chdir(tmp_path)
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGPIPE)}
    try:
        with pytest.raises(LauncherError, match=re.escape(message)) as error:
            run.hand_over([command], tmp_path, {"PATH": "/nonexistent"})
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    assert error.value.code == code


def test_the_job_starts_with_default_signals_and_none_blocked():
    # A child that ignores SIGPIPE and blocks SIGUSR1, as Python leaves them, then hands over to grep.
    code = (
        f"import signal, sys; sys.path.insert(0, {str(ROOT)!r}); from launcher import run; "
        "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1}); "
        "run.hand_over(['grep', '^Sig[BI]', '/proc/self/status'], '.', {})"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    masks = dict(line.split(":\t") for line in result.stdout.splitlines())
    # Signals 32 and 33 belong to the C library (threads), which keeps them from Python.
    libc = (1 << 31) | (1 << 32)
    assert {name: int(mask, 16) & ~libc for name, mask in masks.items()} == {"SigBlk": 0, "SigIgn": 0}


def test_the_job_environment_adds_the_job_environment_path_only(config, tmp_path):
    settings = config(PATH="/usr/bin:/bin", KEEP="1", HOME=str(tmp_path))  # a HOME the job can write
    uv = {"UV_NO_SYNC": "1"}  # `uv run` uses the environment the launcher prepared
    base = str(settings.base_env)
    assert run.job_environment(settings, settings.base_env) == {
        **settings.environ,
        **uv,
        "UV_PROJECT_ENVIRONMENT": base,
    }
    job = run.job_environment(settings, tmp_path / "job-env")
    assert job == {
        **settings.environ,
        **uv,
        "UV_PROJECT_ENVIRONMENT": str(tmp_path / "job-env"),
        "VIRTUAL_ENV": str(tmp_path / "job-env"),
        "PATH": f"{tmp_path}/job-env/bin:/usr/bin:/bin",
    }


def test_the_jobs_own_uv_settings_win(config, tmp_path):
    settings = config(HOME=str(tmp_path), UV_PROJECT_ENVIRONMENT="/tmp/mine", UV_NO_SYNC="0")
    job = run.job_environment(settings, settings.base_env)
    assert (job["UV_PROJECT_ENVIRONMENT"], job["UV_NO_SYNC"]) == ("/tmp/mine", "0")


def test_an_init_is_started_only_as_pid_1(monkeypatch):
    calls = []
    monkeypatch.setattr(os, "execve", lambda *args: calls.append(args))
    monkeypatch.setattr(os, "getpid", lambda: 42)
    run.ensure_init({})
    assert calls == []
    monkeypatch.setattr(os, "getpid", lambda: 1)
    monkeypatch.setattr(os, "access", lambda path, mode: path == run.TINI)
    run.ensure_init({"A": "1"})
    assert calls == [(run.TINI, [run.TINI, "--", *sys.orig_argv], {"A": "1"})]


@pytest.mark.skipif(
    os.uname().machine not in run.SYSCALLS, reason="the system calls' numbers are known for x86_64 and aarch64"
)
def test_signals_the_c_library_keeps_are_reset_too():
    # A child with 32 and 33 ignored (as an engine may start a container) and blocked, set by the
    # system calls since Python's signal module refuses them; then the reset, then the job.
    sigaction, sigprocmask = run.SYSCALLS[os.uname().machine]
    code = (
        f"import ctypes, os, sys; sys.path.insert(0, {str(ROOT)!r}); from launcher import run; "
        "libc = ctypes.CDLL(None); ignore = ctypes.create_string_buffer((1).to_bytes(8, 'little') + bytes(24)); "
        f"[libc.syscall({sigaction}, n, ignore, None, 8) for n in (32, 33)]; "
        f"libc.syscall({sigprocmask}, 0, ctypes.byref(ctypes.c_uint64(0b11 << 31)), None, 8); "
        "run.reset_signals(); os.execvp('grep', ['grep', '-E', '^Sig(Ign|Blk)', '/proc/self/status'])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout == "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"


def test_a_job_whose_home_is_not_writable_gets_one_beside_the_working_directory(tmp_path):
    readonly = tmp_path / "ro"
    readonly.mkdir(mode=0o555)
    workdir = tmp_path / "job"
    if os.access(readonly, os.W_OK):  # root writes anywhere: a HOME that is missing stands in
        readonly = tmp_path / "missing"
    assert run.writable_home(workdir, str(readonly)) == str(tmp_path / "job-home")
    assert stat.S_IMODE(os.stat(tmp_path / "job-home").st_mode) == 0o700
    assert run.writable_home(workdir, str(readonly)) == str(tmp_path / "job-home")  # a restart: the same
    assert run.writable_home(workdir, str(tmp_path)) is None  # a writable HOME is kept
    assert run.writable_home(workdir, "") == str(tmp_path / "job-home")


def test_a_home_folder_that_is_a_link_or_another_uids_is_not_used(tmp_path):
    (tmp_path / "job-home").symlink_to("/etc")
    assert run.writable_home(tmp_path / "job", "/nonexistent") == str(tmp_path / f"job-home-{os.getuid()}")


def test_when_no_home_can_be_had_one_line_says_so(tmp_path, capsys):
    (tmp_path / "job-home").symlink_to("/etc")
    (tmp_path / f"job-home-{os.getuid()}").write_text("a file")
    assert run.writable_home(tmp_path / "job", "/nonexistent") is None
    assert capsys.readouterr().err == (
        f"launcher: HOME=/nonexistent is not writable by uid {os.getuid()}, "
        f"and no folder beside {tmp_path / 'job'} could be made for it\n"
    )
