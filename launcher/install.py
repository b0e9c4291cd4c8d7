"""Stage 4: install the bundle's requirements with uv (or pip) (CONTRACT.md, L4).

Into the image's environment when it is writable, else into a job-local one layered
over it. The installer gets the standard PIP_* settings, also in uv's spelling, and
none of the job's PYTHON* variables (they are the job's, not the installer's).
"""

from __future__ import annotations

import io
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

from .defaults import Resolution, constraints, dependents, describe, required_of
from .defaults import installed as installed_in
from .detect import Plan
from .errors import EX_CANTCREATE, EX_CONFIG, EX_INSTALL, LauncherError
from .log import Log, say
from .settings import Settings, public_url

INSTALL_TAIL_LINES = 15
# What an installer's error output means, first match wins: (pattern, exit code, what to tell the user).
# The patterns are those of the pinned uv and pip (images/python/base_requirements.txt).
INSTALL_FAILURES = (
    (
        r"incompatible with the project's Python requirement|the current Python version \(3\.11",
        EX_CONFIG,
        "the project asks for another Python than this image's 3.11 (requires-python)",
    ),
    (
        r"Hash mismatch|DO NOT MATCH THE HASHES",
        EX_INSTALL,
        "a downloaded file does not match its hash in the lock or requirements: {indexes} serves other files "
        "than those locked",
    ),
    (
        r"No space left on device",
        EX_CANTCREATE,
        "the disk filled up (the installer's cache and builds are in /tmp); give the job more space",
    ),
    (
        r"Couldn't parse requirement|Invalid requirement|Invalid marker|expected '-c', '-e', '-r' or the start",
        EX_CONFIG,
        "a requirement is not valid; fix the line shown above",
    ),
    (
        r"File not found: `|Could not open requirements file|Error parsing included file",
        EX_CONFIG,
        "a file named in the requirements is missing from the bundle",
    ),
    (
        r"tcp connect error|Connection refused|Failed to establish a new connection|dns error|"
        r"Name or service not known|Temporary failure in name resolution",
        EX_INSTALL,
        "{place} could not be reached; check PIP_INDEX_URL, PIP_EXTRA_INDEX_URL and any index the requirements "
        "name, and the job's network",
    ),
    (
        r"timed out|Read timed out",
        EX_INSTALL,
        "{place} did not answer in time (PIP_TIMEOUT sets the limit in seconds)",
    ),
    (
        r"was not found in the|No matching distribution found|Could not find a version",
        EX_INSTALL,
        "a requirement is not available from {indexes}",
    ),
    (
        r"No solution found|ResolutionImpossible|conflicting dependencies",
        EX_INSTALL,
        "the requirements conflict; see the resolver's explanation above",
    ),
    (
        r"Failed to build|build backend returned an error|subprocess-exited-with-error",
        EX_INSTALL,
        "building the project failed; see the build's error above",
    ),
)
# Where installers say what failed: uv's "Failed to fetch: URL", pip's connection pool and indexes.
FETCH_FAILED = re.compile(r"Failed to fetch:? `?(https?://[^\s`'\"]+)")
CONNECTION_POOL = re.compile(r"HTTPS?ConnectionPool\(host='([^']+)', port=(\d+)\)")
LOOKING_IN = re.compile(r"^Looking in indexes: (.+)$", re.MULTILINE)
HIDDEN = "****"  # what credentials become in output, as uv and pip hide them too
# PIP_* settings that uv reads under another name; the launcher gives uv both.
UV_NAMES = {
    "PIP_INDEX_URL": "UV_INDEX_URL",
    "PIP_EXTRA_INDEX_URL": "UV_EXTRA_INDEX_URL",
    "PIP_TRUSTED_HOST": "UV_INSECURE_HOST",
    "PIP_RETRIES": "UV_HTTP_RETRIES",
    "PIP_CERT": "SSL_CERT_FILE",
}
SHIM = "from setuptools import setup\n\nsetup()\n"
# Locks, installed with uv whatever LAUNCHER_INSTALLER says: uv reads uv.lock and pylock.toml,
# and installs what Poetry and Pipenv export of theirs, its hashes verified.
LOCKED_BY_UV = ("uv.lock", "poetry.lock", "Pipfile.lock", "pylock")
# The tools made for the other locks, in an environment of their own.
TOOLS = Path("/opt/tools/bin")
# How to check each lock against its manifest, export it, and lock it again.
LOCK_TOOLS = {
    "uv.lock": ("pyproject.toml", "uv lock --check", "uv lock"),
    "poetry.lock": ("pyproject.toml", "poetry check --lock", "poetry lock"),
    "Pipfile.lock": ("Pipfile", "pipenv verify", "pipenv lock"),
}
# What a lock exports to, and the constraints of a job environment: in the working
# directory, for the relative paths they may hold; removed after.
EXPORTED = ".launcher-locked-requirements.txt"
CONSTRAINTS = ".launcher-constraints.txt"
PIP_REPORT = ".launcher-pip-report.json"
# uv as the launcher runs it, unless the job's environment says otherwise.
UV_QUIET = {"UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}
# Poetry and Pipenv as the launcher runs them: quiet, with caches they can write.
TOOL_QUIET = {
    "POETRY_NO_INTERACTION": "1",
    "POETRY_CACHE_DIR": "/tmp/poetry-cache",
    "PIPENV_YES": "1",
    "PIPENV_NOSPIN": "1",
    "PIPENV_VERBOSITY": "-1",
    "PIPENV_CACHE_DIR": "/tmp/pipenv-cache",
    "WORKON_HOME": "/tmp/pipenv-environments",
    "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
}


def lock_check_failures(lock: str) -> tuple:
    """What a failed check of a lock means: it cannot be read, or it no longer matches its manifest."""
    manifest, check, relock = LOCK_TOOLS[lock]
    redo = f"run `{relock}` and bundle again"
    return (
        (r"Failed to parse|Unable to parse|not a valid|JSONDecodeError", EX_CONFIG, f"{lock} cannot be read; {redo}"),
        (
            r"",
            EX_CONFIG,
            f"{lock} does not match {manifest} any more (`{check}` fails, as shown above); {redo}, "
            f"or set LAUNCHER_IGNORE_LOCK=1 to install from {manifest} without the lock",
        ),
    )


class Step:
    """One command of an install, the tool it runs, and what its failures mean (a table like
    INSTALL_FAILURES; a lock check has its own)."""

    def __init__(
        self,
        command: list[str],
        environ: dict[str, str],
        failures: tuple = INSTALL_FAILURES,
        tool: str = "uv",
        stdout_to: Path | None = None,
    ) -> None:
        self.command = command
        self.environ = environ
        self.failures = failures
        self.tool = tool
        self.stdout_to = stdout_to  # a file that gets what the command prints


def install(plan: Plan, settings: Settings, log: Log, workdir: Path) -> Path:
    """Install the plan's requirements from workdir; returns the environment the job runs in."""
    env = target_env(settings, log)
    if plan.setup_py_shim:
        log.step("setup.cfg without setup.py or pyproject.toml: adding setup.py with `setup()` so that it builds")
        write_new_file(plan.setup_py_shim, SHIM)
    installer = "uv" if plan.kind in LOCKED_BY_UV else settings.installer
    run = Runner(plan, settings, log, workdir)
    commands = Commands(plan, settings, env, cache_settings(settings, env, log), workdir)
    started = time.monotonic()
    try:
        for step in commands.preparing():
            run(step)
        defaults = installed_in(settings.base_env)
        _, out, err = run(commands.resolving())
        if commands.pip_resolves():
            resolution = Resolution.from_pip(commands.report.read_text(), defaults)
        else:
            resolution = Resolution.from_uv(out + err)
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

    def __init__(self, plan: Plan, settings: Settings, log: Log, workdir: Path) -> None:
        self.plan = plan
        self.settings = settings
        self.log = log
        self.workdir = workdir

    def __call__(self, step: Step, check: bool = True) -> tuple[int, str, str]:
        """Run step; its exit code, its stdout and its stderr."""
        code, out, err = run_step(step, self.log, self.workdir, self.settings.index.secrets)
        if step.stdout_to is not None and code == 0:
            step.stdout_to.write_text("".join(f"{line}\n" for line in out))
        if code != 0 and check:
            for line in (err or out)[-INSTALL_TAIL_LINES:]:
                print(line, file=sys.stderr)
            where = f"; full output in {self.log.path}" if self.log.file else ""
            exit_code, hint = explain_failure(err + out, self.settings, step.failures)
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


def run_step(step: Step, log: Log, workdir: Path, secrets: tuple[str, ...]) -> tuple[int, list[str], list[str]]:
    """Run one command, every line of its output into the log; its exit code and output."""
    import subprocess

    log.step(f"run: {' '.join(step.command)}")
    started = time.monotonic()
    out: list[str] = []
    err: list[str] = []
    try:
        process = subprocess.Popen(
            step.command,
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=step.environ,
            text=True,
            errors="replace",
        )
    except OSError as error:
        raise LauncherError(EX_INSTALL, f"cannot start {step.command[0]} ({error.strerror})") from error
    assert process.stdout is not None and process.stderr is not None
    readers = [
        threading.Thread(target=pump, args=(process.stdout, "stdout", log, out, secrets)),
        threading.Thread(target=pump, args=(process.stderr, "stderr", log, err, secrets)),
    ]
    for reader in readers:
        reader.start()
    code = process.wait()
    for reader in readers:
        reader.join()
    log.step(f"exit {code} after {time.monotonic() - started:.2f} s")
    return code, out, err


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
    log.step(f"{base} is not writable; making the job environment {job_env}: {' '.join(command)}")
    import subprocess

    result = subprocess.run(command, capture_output=True, text=True, check=False, env=clean_environ(settings.environ))
    if result.returncode != 0:
        raise LauncherError(EX_CANTCREATE, f"cannot create the job environment {job_env}: {result.stderr.strip()}")
    # The image's libraries stay importable, after the job's own.
    (site_packages(job_env) / "_exec_base.pth").write_text(f"{site_packages(base)}\n")


def clean_environ(environ: dict[str, str]) -> dict[str, str]:
    """environ without the PYTHON* variables, which are the job's."""
    return {name: value for name, value in environ.items() if not name.startswith("PYTHON")}


def installer_env(settings: Settings) -> dict[str, str]:
    """The environment for the installer: the standard PIP_* settings, also in uv's spelling."""
    env = clean_environ(settings.environ)
    index = settings.index
    for pip_name, uv_name in UV_NAMES.items():
        if env.get(pip_name) and not env.get(uv_name):
            env[uv_name] = env[pip_name]
    if index.find_links and not env.get("UV_FIND_LINKS"):
        env["UV_FIND_LINKS"] = ",".join(index.find_links)
    env["UV_HTTP_TIMEOUT"] = str(index.timeout)
    env["UV_CACHE_DIR"] = index.cache_dir
    return {**UV_QUIET, **env}


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
    if "UV_LINK_MODE" not in settings.environ and os.stat(cache).st_dev != os.stat(env).st_dev:
        log.step(f"the cache {cache} is on another filesystem than {env}: uv copies from it (UV_LINK_MODE=copy)")
        return {"UV_LINK_MODE": "copy"}
    return {}


class Commands:
    """The commands of an install: preparing a lock, resolving against the image's environment,
    and installing into env (the image's, or the job environment)."""

    def __init__(self, plan: Plan, settings: Settings, env: Path, cache: dict[str, str], workdir: Path) -> None:
        self.plan = plan
        self.settings = settings
        self.env = env
        self.python = str(env / "bin" / "python")
        self.base_python = str(settings.base_env / "bin" / "python")
        self.uv = str(settings.base_env / "bin" / "uv")
        self.no_index = ["--no-index"] if settings.index.no_index else []
        self.install_env = {**installer_env(settings), **cache}
        # uv as it checks and exports a lock: the project's own index settings, not the platform's.
        self.locking = {
            **clean_environ(settings.environ),
            **UV_QUIET,
            "UV_CACHE_DIR": settings.index.cache_dir,
            **cache,
        }
        # Poetry and Pipenv as they check and export a lock.
        self.tooling = {**clean_environ(settings.environ), **TOOL_QUIET}
        self.exported = workdir / EXPORTED
        self.constraints = workdir / CONSTRAINTS
        self.report = workdir / PIP_REPORT
        for path in (self.exported, self.constraints, self.report):
            if os.path.lexists(path):  # a tool would write through it, or over the bundle's own file
                raise LauncherError(
                    EX_CONFIG, f"the bundle holds {path.name}, a name the launcher keeps for itself; rename it"
                )
        self.selected = [arg for extra in settings.extras for arg in ("--extra", extra)]
        self.selected += [arg for group in settings.groups for arg in ("--group", group)]

    def requirements(self) -> list[str]:
        """What the installer is given: the plan's arguments, or the export of its lock."""
        if self.plan.kind in LOCK_TOOLS:
            return ["-r", str(self.exported)]
        if self.plan.kind == "pylock":
            return [*self.plan.args, *self.selected]
        return self.plan.args

    def preparing(self) -> list[Step]:
        """For a lock read by a tool: the tool checks the lock against its manifest, then exports
        exactly the locked versions, with their hashes. uv does so offline and without the
        platform's index (another index URL than the lock's would make any lock look stale)."""
        kind = self.plan.kind
        if kind not in LOCK_TOOLS:
            return []
        failures = lock_check_failures(kind)
        if kind == "uv.lock":
            check = [self.uv, "lock", "--check", "--offline", "--python", self.python]
            export = [self.uv, "export", "--frozen", "--no-emit-project", "--no-default-groups", "--no-editable"]
            export += ["--no-header", "--format", "requirements.txt", "-o", str(self.exported), *self.selected]
            return [Step(check, self.locking, failures), Step(export, self.locking)]
        if kind == "poetry.lock":
            poetry = str(TOOLS / "poetry")
            export = [poetry, "export", "--format", "requirements.txt", "--output", str(self.exported)]
            export += [arg for extra in self.settings.extras for arg in ("--extras", extra)]
            export += [arg for group in self.settings.groups for arg in ("--with", group)]
            return [
                Step([poetry, "check", "--lock"], self.tooling, failures, tool="poetry"),
                Step(export, self.tooling, tool="poetry"),
            ]
        pipenv = str(TOOLS / "pipenv")
        export = [pipenv, "requirements", "--hash"]
        if self.settings.groups:
            export += ["--categories", " ".join(["packages", *self.settings.groups])]
        return [
            Step([pipenv, "verify"], self.tooling, failures, tool="pipenv"),
            Step(export, self.tooling, tool="pipenv", stdout_to=self.exported),
        ]

    def pip_resolves(self) -> bool:
        return self.settings.installer == "pip" and self.plan.kind not in LOCKED_BY_UV

    def resolving(self) -> Step:
        """The installer resolves the requirements against the image's environment, changing nothing."""
        if self.pip_resolves():
            report = ["install", "--dry-run", "--report", str(self.report), "--no-input"]
            return Step([self.base_python, "-m", "pip", *report, *self.requirements()], self.install_env, tool="pip")
        dry_run = [self.uv, "pip", "install", "--dry-run", "--python", self.base_python, *self.no_index]
        return Step([*dry_run, *self.requirements()], self.install_env)

    def accepting(self, name: str, version: str, user: str, user_version: str) -> Step:
        """Whether the default library user, at its version, accepts name at version."""
        pins = [f"{name}=={version}", f"{user}=={user_version}"]
        return Step(
            [self.uv, "pip", "install", "--dry-run", "--python", self.base_python, *self.no_index, *pins],
            self.install_env,
        )

    def installing(self, resolution: Resolution, defaults: dict[str, tuple[str, list[str]]]) -> list[Step]:
        requirements = self.requirements()
        if self.env != self.settings.base_env and self.plan.kind not in LOCKED_BY_UV:
            # The job environment gets the versions the image's environment would: each default
            # library the resolution keeps is a constraint.
            self.constraints.write_text(constraints(defaults, resolution))
            requirements = [*requirements, "-c", str(self.constraints)]
        if self.settings.installer == "uv" or self.plan.kind in LOCKED_BY_UV:
            found = [self.uv_install(requirements)]
        else:
            found = [
                Step([self.python, "-m", "pip", "install", "--no-input", *requirements], self.install_env, tool="pip")
            ]
        if self.plan.kind in LOCK_TOOLS and self.plan.args:  # the project itself, when it is built
            found.append(self.uv_install(["--no-deps", *self.plan.args]))
        return found

    def uv_install(self, args: list[str]) -> Step:
        return Step([self.uv, "pip", "install", "--python", self.python, *self.no_index, *args], self.install_env)

    def clean(self) -> None:
        for path in (self.exported, self.constraints, self.report):
            if path.exists():
                path.unlink()


def count_installed(installer: str, lines: list[str]) -> int:
    """How many packages the installer reports it installed."""
    for line in reversed(lines):
        if installer == "uv" and (match := re.match(r"Installed (\d+) packages?", line.strip())):
            return int(match.group(1))
        if installer == "pip" and line.startswith("Successfully installed "):
            return len(line.split()) - 2
    return 0


def status(code: int) -> str:
    """How a child process ended, in words."""
    if code < 0:
        name = signal.Signals(-code).name
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"was killed by {name}{hint}"
    return f"exited {code}"


def explain_failure(lines: list[str], settings: Settings, failures: tuple = INSTALL_FAILURES) -> tuple[int, str]:
    """The exit code and the explanation for an installer's failure, from its output: what
    failed is named from what the installer says failed, not from the settings."""
    text = "\n".join(lines)
    for pattern, code, hint in failures:
        if re.search(pattern, text):
            return code, hint.format(place=failing_place(text), indexes=indexes_in_use(text, settings))
    return EX_INSTALL, "see the installer's error above"


def shown_url(url: str) -> str:
    """url for a message: never with credentials; not at all when they were scrubbed from it (or
    the installer hid them), as what is left may not be what the installer reached."""
    shown = None if HIDDEN in url else public_url(url)
    return shown or "an index URL (not shown, as it may hold credentials)"


def failing_place(text: str) -> str:
    """The URL (or host) that an installer says it could not fetch, as messages may show it."""
    fetched = FETCH_FAILED.findall(text)  # uv
    if fetched:
        return shown_url(fetched[-1])
    pools = CONNECTION_POOL.findall(text)  # pip
    if pools:
        host, port = pools[-1]
        return f"the package index at {host}:{port}"
    looked = LOOKING_IN.findall(text)  # pip, which names the indexes it tried
    if looked:
        return "the package index " + ", ".join(shown_url(url.strip()) for url in looked[-1].split(","))
    return "a package index (see the installer's error above)"


def indexes_in_use(text: str, settings: Settings) -> str:
    """The indexes an installer looked in: as pip lists them, or as the settings name them."""
    looked = LOOKING_IN.findall(text)  # pip
    if looked:
        return ", ".join(shown_url(url.strip()) for url in looked[-1].split(","))
    extra = " (or the extra indexes of PIP_EXTRA_INDEX_URL)" if settings.environ.get("PIP_EXTRA_INDEX_URL") else ""
    return settings.index.describe() + extra


def scrub(line: str, secrets: tuple[str, ...]) -> str:
    """line with any credential of the index URLs replaced by ****."""
    for secret in secrets:
        line = line.replace(secret, HIDDEN)
    return line


def pump(stream: io.TextIOWrapper, label: str, log: Log, lines: list[str], secrets: tuple[str, ...]) -> None:
    for line in stream:
        line = scrub(line, secrets)
        log.write(f"{label}| {line}")
        lines.append(line.rstrip("\n"))
