"""Stage 1: every setting the launcher reads, read and checked once, before any work.

No other module reads the environment: this one returns a Settings that is passed
down. The environment is the one the launcher was started with, read back from
/proc/self/environ, because Python adds LC_CTYPE to its own copy when the locale is C
(PEP 538); the job receives the original, unchanged.

A malformed value stops the launcher with exit 78 and one line naming the setting
and the form it accepts (values.py reads each form). An empty value counts as unset.
The installers' settings are resolved by indexes.py, where credentials are found so
that they are never printed.
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path

from .errors import EX_CONFIG, LauncherError
from .indexes import DEFAULT_HTTP_TIMEOUT, DEFAULT_INDEX, DEFAULT_UV_CACHE, Index, index
from .values import absolute, bounded, flag, invalid, value_of

# The settings that always have a value, and their defaults (CONTRACT.md, L7.2, lists the same).
DEFAULTS = {
    "LAUNCHER_CODE": "/code",  # the bundle: a tar or zip file, or a directory
    "LAUNCHER_OUTPUTS": "/outputs",  # where requirements.log goes, when it exists
    "LAUNCHER_WORKDIR": "/tmp/job",  # where the bundle is extracted
    "LAUNCHER_JOB_ENV": "/tmp/job-env",  # the job's environment when VIRTUAL_ENV is not writable
    "LAUNCHER_INSTALLER": "uv",  # uv or pip
    "LAUNCHER_MAX_BYTES": "1g",  # cap on what the bundle writes
    "LAUNCHER_MAX_MEMBERS": "100000",  # cap on the bundle's members
    "LAUNCHER_LOCK_TIMEOUT": "300",  # seconds a lock's tool may take to check or export it
    "LAUNCHER_INSTALL_TIMEOUT": "3600",  # seconds an installer may take to resolve, or to install
    "VIRTUAL_ENV": "/opt/venv",  # the image's environment
}
REQUIREMENTS_SETTING = "LAUNCHER_REQUIREMENTS"  # a file in the bundle to install from, or `none`
NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")
NO_INSTALL = "none"
INSTALLERS = ("uv", "pip")
DEBUG_SETTING = "LAUNCHER_DEBUG"

# Every other setting the launcher reads, and its default (None: unset, detected, or the
# installer's own). With DEFAULTS, these are the settings CONTRACT.md lists in L7.2. uv's
# spelling of a PIP_* setting wins over it; the launcher gives uv pip's under uv's name
# (commands.UV_NAMES).
OTHER_SETTINGS: dict[str, str | int | None] = {
    REQUIREMENTS_SETTING: None,
    "LAUNCHER_EXTRAS": None,  # the project's extras to install too, comma-separated
    "LAUNCHER_GROUPS": None,  # the project's dependency groups to install too, comma-separated
    "LAUNCHER_IGNORE_LOCK": None,  # install from the manifests, not from a lock
    DEBUG_SETTING: None,  # a bug in the launcher shows its traceback
    "PIP_INDEX_URL": DEFAULT_INDEX,
    "PIP_EXTRA_INDEX_URL": None,
    "PIP_FIND_LINKS": None,
    "PIP_TRUSTED_HOST": None,
    "PIP_NO_INDEX": None,
    "PIP_CERT": None,
    "SSL_CERT_FILE": None,
    "PIP_TIMEOUT": DEFAULT_HTTP_TIMEOUT,
    "PIP_RETRIES": None,
    "PIP_CACHE_DIR": None,
    "UV_CACHE_DIR": DEFAULT_UV_CACHE,
    "UV_LINK_MODE": None,  # kept when given; else copy, for a cache on another filesystem
    "UV_INDEX_URL": None,
    "UV_EXTRA_INDEX_URL": None,
    "UV_FIND_LINKS": None,
    "UV_INSECURE_HOST": None,
    "UV_HTTP_TIMEOUT": None,
    "UV_HTTP_RETRIES": None,
}

SIZE = re.compile(r"([0-9]+)\s*([kmgt]?)(?:i?b)?", re.IGNORECASE)
SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
SIZE_FORM = "a whole number of bytes, optionally with a k, m, g or t suffix (1g = 1GB = 1GiB = 1 GiB)"
MAX_STEP_SECONDS = 7 * 24 * 3600


class Settings:
    """Every setting, checked; made by read()."""

    def __init__(
        self,
        environ: dict[str, str],
        code: Path,
        outputs: Path,
        workdir: Path,
        job_env: Path,
        base_env: Path,
        requirements: str | None,
        installer: str,
        max_bytes: int,
        max_members: int,
        index: Index,
        extras: tuple[str, ...] = (),
        groups: tuple[str, ...] = (),
        ignore_lock: bool = False,
        lock_timeout: float = 300,
        install_timeout: float = 3600,
    ) -> None:
        self.environ = environ  # the environment as the launcher was given it; the job gets it unchanged
        self.code = code
        self.outputs = outputs
        self.workdir = workdir
        self.job_env = job_env
        self.base_env = base_env
        self.requirements = requirements  # None: detect; NO_INSTALL: install nothing; else a file in the bundle
        self.installer = installer
        self.max_bytes = max_bytes
        self.max_members = max_members
        self.index = index
        self.extras = extras
        self.groups = groups
        self.ignore_lock = ignore_lock
        self.lock_timeout = lock_timeout  # seconds
        self.install_timeout = install_timeout


def original_environment() -> dict[str, str]:
    """The environment this process was started with (names and values byte for byte)."""
    try:
        with open("/proc/self/environ", "rb") as file:
            data = file.read()
    except OSError:
        return dict(os.environ)
    environ: dict[str, str] = {}
    for item in data.split(b"\0"):
        name, equals, value = item.partition(b"=")
        if equals and name:
            environ[os.fsdecode(name)] = os.fsdecode(value)
    return environ


def debug_requested(environ: dict[str, str]) -> bool:
    return value_of(environ, DEBUG_SETTING) is not None


def read(environ: dict[str, str]) -> Settings:
    """Read and check every setting; raise LauncherError (78) on the first malformed one."""
    workdir = absolute_path(environ, "LAUNCHER_WORKDIR")
    job_env = absolute_path(environ, "LAUNCHER_JOB_ENV")
    for a, b in ((workdir, job_env), (job_env, workdir)):
        if a == b or b in a.parents:
            raise LauncherError(
                EX_CONFIG, "LAUNCHER_WORKDIR and LAUNCHER_JOB_ENV overlap; give two separate directories"
            )
    return Settings(
        environ=environ,
        code=absolute_path(environ, "LAUNCHER_CODE"),
        outputs=absolute_path(environ, "LAUNCHER_OUTPUTS"),
        workdir=workdir,
        job_env=job_env,
        base_env=absolute_path(environ, "VIRTUAL_ENV"),
        requirements=requirements_file(environ),
        installer=choice(environ, "LAUNCHER_INSTALLER", INSTALLERS),
        max_bytes=size(environ, "LAUNCHER_MAX_BYTES"),
        max_members=count(environ, "LAUNCHER_MAX_MEMBERS"),
        index=index(environ),
        extras=names(environ, "LAUNCHER_EXTRAS"),
        groups=names(environ, "LAUNCHER_GROUPS"),
        ignore_lock=flag(environ, "LAUNCHER_IGNORE_LOCK"),
        lock_timeout=time_limit(environ, "LAUNCHER_LOCK_TIMEOUT"),
        install_timeout=time_limit(environ, "LAUNCHER_INSTALL_TIMEOUT"),
    )


# --- Readers, one per form ------------------------------------------------------


def setting(environ: dict[str, str], name: str) -> str:
    return value_of(environ, name) or DEFAULTS[name]


def absolute_path(environ: dict[str, str], name: str) -> Path:
    return absolute(name, setting(environ, name))


def choice(environ: dict[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = setting(environ, name).lower()
    if value not in choices:
        raise invalid(name, value, f"choose one of {', '.join(choices)}")
    return value


def size(environ: dict[str, str], name: str) -> int:
    value = setting(environ, name)
    match = SIZE.fullmatch(value)
    if not match or int(match.group(1)) == 0:
        raise invalid(name, value, f"give {SIZE_FORM}, at least 1")
    return int(match.group(1)) * SIZE_UNITS[match.group(2).lower()]


def count(environ: dict[str, str], name: str) -> int:
    value = setting(environ, name)
    if not value.isascii() or not value.isdigit() or int(value) == 0:
        raise invalid(name, value, "give a whole number, at least 1")
    return int(value)


def time_limit(environ: dict[str, str], name: str) -> float:
    """A time limit in seconds, from 1 s to a week."""
    return bounded({name: setting(environ, name)}, name, False, 1, MAX_STEP_SECONDS, "seconds")  # type: ignore[return-value]


def names(environ: dict[str, str], name: str) -> tuple[str, ...]:
    """A comma-separated list of names of extras or dependency groups."""
    items = tuple(item.strip() for item in (value_of(environ, name) or "").split(",") if item.strip())
    for item in items:
        if not NAME.fullmatch(item):
            raise invalid(name, value_of(environ, name), "give names separated by commas, such as plot,s3")
    return items


def requirements_file(environ: dict[str, str]) -> str | None:
    """LAUNCHER_REQUIREMENTS: `none`, or a file relative to the top of the bundle."""
    value = value_of(environ, REQUIREMENTS_SETTING)
    if value is None:
        return None
    if value.lower() == NO_INSTALL:
        return NO_INSTALL
    normal = posixpath.normpath(value)
    if value.startswith("/") or normal == ".." or normal.startswith("../"):
        raise invalid(REQUIREMENTS_SETTING, value, "name a file inside the bundle, relative to its top (or none)")
    return normal
