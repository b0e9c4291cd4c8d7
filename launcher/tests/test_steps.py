import os
import time
from pathlib import Path

import pytest

from launcher import steps
from launcher.log import Log

ENV = {"PATH": "/usr/bin:/bin"}


def run(command: list[str], timeout: float = 30, log: Log | None = None) -> tuple[int, list[str], list[str]]:
    return steps.run_step(steps.Step(command, ENV, timeout=timeout), log or Log(None), Path("/"), ("s3cret",))


def test_output_is_read_line_by_line_with_secrets_hidden(tmp_path):
    log = Log.open(tmp_path)
    code, out, err = run(["sh", "-c", "echo out s3cret; echo err >&2; printf 'no end'; exit 3"], log=log)
    log.close()
    assert (code, out, err) == (3, ["out ****", "no end"], ["err"])
    assert "stdout| out ****\n" in (tmp_path / "requirements.log").read_text()


def test_a_step_past_its_limit_is_stopped_with_what_it_started():
    started = time.monotonic()
    with pytest.raises(steps.TimedOut, match=r"ran for more than 1 s and was stopped \(LAUNCHER_INSTALL_TIMEOUT"):
        run(["sh", "-c", "sleep 600 & sleep 600"], timeout=1)
    assert time.monotonic() - started < 10
    assert not steps.children()


def test_what_a_step_leaves_running_ends_with_it_even_outside_its_group():
    steps.adopt_orphans()
    try:
        code, _, _ = run(["sh", "-c", "setsid sleep 600 >/dev/null 2>&1 & sleep 600 >/dev/null 2>&1 & echo started"])
        assert code == 0
        assert not steps.children()
        assert not [
            pid for pid in os.listdir("/proc") if pid.isdigit() and b"sleep\x00600" in read(f"/proc/{pid}/cmdline")
        ]
    finally:
        steps.set_subreaper(0)


def read(path: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError:
        return b""
