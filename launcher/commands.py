"""The commands of an install: a lock checked and exported by the tool made for it, the
requirements resolved against the image's environment, then installed (CONTRACT.md, L3.8, L4)."""

from __future__ import annotations

import os
from pathlib import Path

from .defaults import Resolution, constraints
from .errors import EX_CONFIG, LauncherError
from .failures import INSTALL_FAILURES
from .locks import Kind, Lock
from .plans import Plan
from .requirement_files import name_own_index
from .settings import Settings
from .steps import Step

# The settings settings.index() resolves, pip's and uv's spellings: the installers get the
# resolved values under both names, never the raw ones.
RESOLVED = frozenset(
    {
        "PIP_INDEX_URL",
        "UV_INDEX_URL",
        "PIP_EXTRA_INDEX_URL",
        "UV_EXTRA_INDEX_URL",
        "PIP_FIND_LINKS",
        "UV_FIND_LINKS",
        "PIP_TRUSTED_HOST",
        "UV_INSECURE_HOST",
        "PIP_NO_INDEX",
        "PIP_TIMEOUT",
        "UV_HTTP_TIMEOUT",
        "PIP_RETRIES",
        "UV_HTTP_RETRIES",
        "PIP_CERT",
        "SSL_CERT_FILE",
        "UV_CACHE_DIR",
        "UV_LINK_MODE",
    }
)
# Every lock is installed with uv, whatever LAUNCHER_INSTALLER says: uv reads pylock.toml,
# and installs what the tool of the others (locks.py) exports, its hashes verified.
# Poetry and Pipenv, the tools of their locks, in an environment of their own.
TOOLS = Path("/opt/tools/bin")
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


def clean_environ(environ: dict[str, str]) -> dict[str, str]:
    """environ without the PYTHON* variables, which are the job's."""
    return {name: value for name, value in environ.items() if not name.startswith("PYTHON")}


def unresolved(environ: dict[str, str]) -> dict[str, str]:
    """environ without the job's PYTHON* variables and without the raw index settings."""
    return {name: value for name, value in clean_environ(environ).items() if name not in RESOLVED}


def installer_env(settings: Settings, own_index: bool = False) -> dict[str, str]:
    """The environment for the installers: the resolved index settings, in pip's and uv's
    spelling. When the requirements files name their own index (own_index), the platform's
    index URL is not given: a file's --index-url wins, for uv as it does for pip."""
    index = settings.index
    env = unresolved(settings.environ)
    if index.url_setting in ("PIP_INDEX_URL", "UV_INDEX_URL") and not own_index:
        env["PIP_INDEX_URL"] = env["UV_INDEX_URL"] = index.url
    pairs = {
        ("PIP_EXTRA_INDEX_URL", "UV_EXTRA_INDEX_URL"): " ".join(index.extra),
        ("PIP_FIND_LINKS",): " ".join(index.find_links),
        ("UV_FIND_LINKS",): ",".join(index.find_links),
        ("PIP_TRUSTED_HOST", "UV_INSECURE_HOST"): " ".join(index.trusted_hosts),
        ("PIP_NO_INDEX",): "1" if index.no_index else "",
        ("PIP_TIMEOUT", "UV_HTTP_TIMEOUT"): str(index.timeout),
        ("PIP_RETRIES", "UV_HTTP_RETRIES"): "" if index.retries is None else str(index.retries),
        ("PIP_CERT", "SSL_CERT_FILE"): index.cert or "",
        ("UV_CACHE_DIR",): index.cache_dir,
        ("UV_LINK_MODE",): index.link_mode or "",
    }
    for names, value in pairs.items():
        if value:
            env.update(dict.fromkeys(names, value))
    return {**UV_QUIET, **env}


class Commands:
    """The commands of an install: preparing a lock, resolving against the image's environment,
    and installing into env (the image's, or the job environment)."""

    def __init__(self, plan: Plan, settings: Settings, env: Path, cache: dict[str, str], directory: Path) -> None:
        self.plan = plan
        self.settings = settings
        self.env = env
        self.python = str(env / "bin" / "python")
        self.base_python = str(settings.base_env / "bin" / "python")
        self.uv = str(settings.base_env / "bin" / "uv")
        self.no_index = ["--no-index"] if settings.index.no_index else []
        self.tool = "uv" if plan.lock else settings.installer  # every lock is installed with uv
        # A requirements file of the bundle that names its own index wins over the platform's (L4.10).
        files = [directory / arg for flag, arg in zip(plan.args, plan.args[1:], strict=False) if flag == "-r"]
        self.own_index = plan.kind == Kind.REQUIREMENTS and any(name_own_index(path, directory) for path in files)
        self.install_env = {**installer_env(settings, self.own_index), **cache}
        self.cache = cache
        self.exported = directory / EXPORTED
        self.constraints = directory / CONSTRAINTS
        self.report = directory / PIP_REPORT
        for path in (self.exported, self.constraints, self.report):
            if os.path.lexists(path):  # a tool would write through it, or over the bundle's own file
                raise LauncherError(
                    EX_CONFIG, f"the bundle holds {path.name}, a name the launcher keeps for itself; rename it"
                )
        self.selected = [arg for extra in settings.extras for arg in ("--extra", extra)]
        self.selected += [arg for group in settings.groups for arg in ("--group", group)]

    def requirements(self) -> list[str]:
        """What the installer is given: the plan's arguments, or the export of its lock."""
        lock = self.plan.lock
        if lock and lock.exported:
            return ["-r", str(self.exported)]
        if lock:  # read by uv as it is
            return [*self.plan.args, *self.selected]
        return self.plan.args

    def installer(self, command: list[str], tool: str = "uv") -> Step:
        """A step of resolving or installing, bounded by LAUNCHER_INSTALL_TIMEOUT."""
        return Step(command, self.install_env, INSTALL_FAILURES, tool, timeout=self.settings.install_timeout)

    def preparing(self) -> list[Step]:
        """For a lock read by a tool: the tool checks it, then exports it (lock_steps)."""
        return lock_steps(self.plan.lock, self.settings, self.python, self.exported, self.selected, self.cache)

    def pip_resolves(self) -> bool:
        return self.tool == "pip"

    def resolving(self) -> Step:
        """The installer resolves the requirements against the image's environment, changing nothing."""
        if self.pip_resolves():
            report = ["install", "--dry-run", "--report", str(self.report), "--no-input"]
            return self.installer([self.base_python, "-m", "pip", *report, *self.requirements()], tool="pip")
        dry_run = [self.uv, "pip", "install", "--dry-run", "--python", self.base_python, *self.no_index]
        return self.installer([*dry_run, *self.requirements()])

    def accepting(self, name: str, version: str, user: str, user_version: str) -> Step:
        """Whether the default library user, at its version, accepts name at version."""
        pins = [f"{name}=={version}", f"{user}=={user_version}"]
        return self.installer(
            [self.uv, "pip", "install", "--dry-run", "--python", self.base_python, *self.no_index, *pins]
        )

    def installing(self, resolution: Resolution, defaults: dict[str, tuple[str, list[str]]]) -> list[Step]:
        requirements = self.requirements()
        if self.env != self.settings.base_env and self.plan.lock is None:
            # The job environment gets the versions the image's environment would: each default
            # library the resolution keeps is a constraint.
            self.constraints.write_text(constraints(defaults, resolution))
            requirements = [*requirements, "-c", str(self.constraints)]
        if self.tool == "uv":
            found = [self.uv_install(requirements)]
        else:
            found = [self.installer([self.python, "-m", "pip", "install", "--no-input", *requirements], tool="pip")]
        if self.plan.lock and self.plan.lock.exported and self.plan.args:  # the project itself, when it is built
            found.append(self.uv_install(["--no-deps", *self.plan.args]))
        return found

    def uv_install(self, args: list[str]) -> Step:
        return self.installer([self.uv, "pip", "install", "--python", self.python, *self.no_index, *args])

    def clean(self) -> None:
        for path in (self.exported, self.constraints, self.report):
            if os.path.lexists(path):
                path.unlink()


def lock_steps(
    lock: Lock | None, settings: Settings, python: str, exported: Path, selected: list[str], cache: dict[str, str]
) -> list[Step]:
    """For a lock read by a tool: the tool checks the lock against its manifest, then exports
    exactly the locked versions, with their hashes, to exported. uv does so offline and without
    the platform's index (another index URL than the lock's would make any lock look stale).
    Each step is bounded by LAUNCHER_LOCK_TIMEOUT."""
    if lock is None or not lock.exported:
        return []

    def step(command: list[str], environ: dict[str, str], failures: tuple, **more: object) -> Step:
        hint = f"an old {lock.tool} lock can take that long to read: run `{lock.relock}` and bundle again"
        return Step(
            command,
            environ,
            failures,
            lock.tool,
            timeout=settings.lock_timeout,
            timeout_setting="LAUNCHER_LOCK_TIMEOUT",
            timeout_hint=hint,
            **more,
        )

    failures = lock.check_failures()
    if lock.tool == "uv":
        uv = str(settings.base_env / "bin" / "uv")
        # uv as it checks and exports a lock: the project's own index settings, not the platform's.
        locking = {**unresolved(settings.environ), **UV_QUIET, "UV_CACHE_DIR": settings.index.cache_dir, **cache}
        check = [uv, "lock", "--check", "--offline", "--python", python]
        export = [uv, "export", "--frozen", "--no-emit-project", "--no-default-groups", "--no-editable"]
        export += ["--no-header", "--format", "requirements.txt", "-o", str(exported), *selected]
        return [step(check, locking, failures), step(export, locking, INSTALL_FAILURES)]
    # Poetry and Pipenv as they check and export a lock.
    tooling = {**clean_environ(settings.environ), **TOOL_QUIET}
    if lock.tool == "poetry":
        poetry = str(TOOLS / "poetry")
        export = [poetry, "export", "--format", "requirements.txt", "--output", str(exported)]
        export += [arg for extra in settings.extras for arg in ("--extras", extra)]
        export += [arg for group in settings.groups for arg in ("--with", group)]
        return [step([poetry, "check", "--lock"], tooling, failures), step(export, tooling, INSTALL_FAILURES)]
    pipenv = str(TOOLS / "pipenv")
    export = [pipenv, "requirements", "--hash"]
    if settings.groups:
        export += ["--categories", " ".join(["packages", *settings.groups])]
    return [
        step([pipenv, "verify"], tooling, failures),
        step(export, tooling, INSTALL_FAILURES, stdout_to=exported),
    ]
