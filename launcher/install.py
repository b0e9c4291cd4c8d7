"""Stage 4: install the bundle's requirements with uv (or pip) (CONTRACT.md, L4).

Into the image's environment when it is writable, else into a job-local one layered
over it. The installer gets the standard PIP_* settings, also in uv's spelling, and
none of the job's PYTHON* variables (they are the job's, not the installer's).
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

from .commands import Commands, clean_environ
from .defaults import Resolution, dependents, describe, required_of
from .defaults import installed as installed_in
from .errors import EX_CANTCREATE, EX_CONFIG, LauncherError
from .failures import INSTALL_FAILURES, LOOKING_IN, explain_failure, status, without_traceback
from .log import Log, printable, say, shown
from .plans import Plan
from .settings import Settings
from .steps import Step, TimedOut, adopt_orphans, run_step

INSTALL_TAIL_LINES = 15
# How the installers say that a project has no extra of the name asked for.
MISSING_EXTRA = re.compile(r"does not have an extra named `([^`]+)`|does not provide the extra '([^']+)'")
SHIM = "from setuptools import setup\n\nsetup()\n"


def install(plan: Plan, settings: Settings, log: Log) -> Path:
    """Install the plan's requirements (in its directory); returns the environment the job runs in."""
    adopt_orphans()
    env = target_env(settings, log)
    if plan.setup_py_shim:
        log.step("setup.cfg without setup.py or pyproject.toml: adding setup.py with `setup()` so that it builds")
        write_new_file(plan.setup_py_shim, SHIM)
    directory = plan.directory or settings.workdir
    run = Runner(plan, settings, log, directory)
    commands = Commands(plan, settings, env, cache_settings(settings, env, log), directory)
    installer = commands.tool
    if commands.own_index and settings.index.url_setting != "the default index":
        note = f"{plan.method} names its own package index (--index-url), used instead of {settings.index.url_setting}"
        log.step(note)
        say(note)
    started = time.monotonic()
    try:
        for step in commands.preparing():
            run(step)
        defaults = installed_in(settings.base_env)
        _, out, err = run(commands.resolving())
        if commands.pip_resolves():
            resolution = Resolution.from_pip(commands.report.read_text(), defaults)
            warn_of_merged_indexes(out + err, log)
        else:
            resolution = Resolution.from_uv(out + err)
        check_extras(out + err, settings)
        report_replaced(resolution, defaults, run, commands, log)
        installed = 0
        for step in commands.installing(resolution, defaults):
            _, out, err = run(step)
            installed += count_installed(installer, (out + err).splitlines())
    finally:
        commands.clean()
    unused = f"; not used: {', '.join(plan.unused)}" if plan.unused else ""
    elapsed = time.monotonic() - started
    say(f"installed {plan.method} with {installer}: {installed} packages in {elapsed:.1f} s{unused}")
    return env


class Runner:
    """Runs the steps of one install; a step that fails stops it, with one line that says why."""

    def __init__(self, plan: Plan, settings: Settings, log: Log, directory: Path) -> None:
        self.plan = plan
        self.settings = settings
        self.log = log
        self.directory = directory

    def __call__(self, step: Step, check: bool = True) -> tuple[int, str, str]:
        """Run step; its exit code, its stdout and its stderr."""
        where = f"; full output in {self.log.path}" if self.log.file else ""
        try:
            code, out, err = run_step(step, self.log, self.directory, self.settings.index.secrets)
        except TimedOut as error:
            raise LauncherError(error.code, f"installing {self.plan.method} failed: {error}{where}") from None
        if step.stdout_to is not None and code == 0:
            step.stdout_to.write_text("".join(f"{line}\n" for line in out))
        if code != 0 and check:
            for line in without_traceback(err or out)[-INSTALL_TAIL_LINES:]:
                print(printable(f"{step.tool}| {line}"), file=sys.stderr)
            exit_code, hint = explain_failure(err + out, self.settings, step.failures or INSTALL_FAILURES)
            failed = f"installing {self.plan.method} failed ({step.tool} {status(code)})"
            raise LauncherError(exit_code, f"{failed}: {hint}{where}")
        return code, "\n".join(out), "\n".join(err)


def report_replaced(
    resolution: Resolution, defaults: dict[str, tuple[str, list[str]]], run: Runner, commands: Commands, log: Log
) -> None:
    """Name, one line each, the default libraries the resolution replaces, the defaults that
    depend on them, and those the new version breaks."""
    for name, old, new in resolution.replaced():
        users = dependents(defaults, name)
        broken: dict[str, str] = {}
        for user in users:
            code, out, err = run(commands.accepting(name, new, user, defaults[user][0]), check=False)
            if code != 0:  # uv says what the user requires of name, its markers evaluated
                broken[user] = required_of(out + err, user, name)
        line = describe(name, old, new, users, broken)
        log.step(line)
        say(line)


def write_new_file(path: Path, text: str) -> None:
    """Create path with text; never over an existing file, never through a link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as error:
        raise LauncherError(EX_CANTCREATE, f"cannot create {path} ({error.strerror})") from error
    with os.fdopen(fd, "w") as file:
        file.write(text)


def site_packages(env: Path) -> Path:
    return env / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def target_env(settings: Settings, log: Log) -> Path:
    """The environment to install into: the image's own, or a job-local one layered over it."""
    base, job_env = settings.base_env, settings.job_env
    if os.access(site_packages(base), os.W_OK):
        return base
    if not (job_env / "pyvenv.cfg").exists():
        make_job_env(settings, log)
    say(f"{base} is not writable; installing into {job_env}, layered over it")
    return job_env


def make_job_env(settings: Settings, log: Log) -> None:
    base, job_env = settings.base_env, settings.job_env
    if job_env.is_symlink() or (job_env.exists() and (not job_env.is_dir() or any(job_env.iterdir()))):
        raise LauncherError(
            EX_CANTCREATE,
            f"{job_env} already exists and is neither an environment nor empty, and the launcher never deletes "
            "what it did not make; set LAUNCHER_JOB_ENV to a new or empty directory",
        )
    command = [str(base / "bin" / "python"), "-m", "venv", "--without-pip", str(job_env)]
    log.step(f"{base} is not writable; making the job environment {job_env}")
    step = Step(command, clean_environ(settings.environ), tool="python -m venv", timeout=settings.install_timeout)
    code, _, err = run_step(step, log, Path("/"), settings.index.secrets)
    if code != 0:
        raise LauncherError(EX_CANTCREATE, f"cannot create the job environment {job_env}: {' '.join(err[-3:])}")
    # The image's libraries stay importable, after the job's own.
    (site_packages(job_env) / "_exec_base.pth").write_text(f"{site_packages(base)}\n")


def cache_settings(settings: Settings, env: Path, log: Log) -> dict[str, str]:
    """How the installers use their cache: not at all when the job's uid cannot write it (uv
    would fail), and by copying when it is on another filesystem than env (a cache mounted
    from the host: uv would try to link first, and warn)."""
    cache = Path(settings.index.cache_dir)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        problem = None if os.access(cache, os.W_OK | os.X_OK) else "not writable"
    except OSError as error:
        problem = error.strerror
    if problem:
        say(f"the cache {cache} cannot be used by uid {os.getuid()} ({problem}); installing without a cache")
        return {"UV_NO_CACHE": "1", "PIP_NO_CACHE_DIR": "1"}
    if settings.index.link_mode is None and os.stat(cache).st_dev != os.stat(env).st_dev:
        log.step(f"the cache {cache} is on another filesystem than {env}: uv copies from it (UV_LINK_MODE=copy)")
        return {"UV_LINK_MODE": "copy"}
    return {}


def count_installed(installer: str, lines: list[str]) -> int:
    """How many packages the installer reports it installed."""
    for line in reversed(lines):
        if installer == "uv" and (match := re.match(r"Installed (\d+) packages?", line.strip())):
            return int(match.group(1))
        if installer == "pip" and line.startswith("Successfully installed "):
            return len(line.split()) - 2
    return 0


def warn_of_merged_indexes(output: str, log: Log) -> None:
    """pip takes each package from whichever index has its highest version: with more than one
    index, a public package can stand in for a private one of the same name (L4.10)."""
    looked = LOOKING_IN.findall(output)
    if looked and "," in looked[-1]:
        line = (
            "pip takes each package from whichever of several indexes has its highest version, so a package on "
            "one can stand in for another of the same name; uv (LAUNCHER_INSTALLER=uv) takes it from the first "
            "index that has it"
        )
        log.step(line)
        say(line)


def check_extras(output: str, settings: Settings) -> None:
    """An extra of LAUNCHER_EXTRAS that the project does not declare (only a build can tell,
    and the installers only warn): exit 78, as for the extras a manifest lists (L3.10)."""
    missing = MISSING_EXTRA.search(output)
    if missing:
        raise LauncherError(
            EX_CONFIG,
            f"LAUNCHER_EXTRAS names {shown(missing.group(1) or missing.group(2))}, which the project does not declare "
            f"(the installer says: {missing.group(0).strip()})",
        )
