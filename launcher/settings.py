"""Stage 1: every setting the launcher reads, read and checked once, before any work.

No other module reads the environment: this one returns a Settings that is passed
down. The environment is the one the launcher was started with, read back from
/proc/self/environ, because Python adds LC_CTYPE to its own copy when the locale is C
(PEP 538); the job receives the original, unchanged.

A malformed value stops the launcher with exit 78 and one line naming the setting
and the form it accepts. An empty value counts as unset. Values that may hold
credentials (index URLs) are never printed.
"""

from __future__ import annotations

import math
import os
import posixpath
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from .errors import EX_CONFIG, LauncherError

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

# uv's HTTP timeout when neither UV_HTTP_TIMEOUT nor PIP_TIMEOUT is set: pip's default,
# instead of uv's 30 s, so that an index that stops answering fails within about a minute.
DEFAULT_HTTP_TIMEOUT = 15
DEFAULT_UV_CACHE = "/tmp/uv-cache"
DEFAULT_INDEX = "https://pypi.org/simple"

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
SIZE_FORM = "a whole number of bytes, optionally with a k, m, g or t suffix (1g = 1 GiB)"
URL_SCHEMES = ("http", "https", "file")
URL_FORM = (
    "give http(s)://[user:password@]host[:port]/path, with any '@', ':' or '/' "
    "in the user name or password percent-encoded (%40, %3A, %2F)"
)
# pip's reading of a yes/no setting (PIP_NO_INDEX).
TRUE_WORDS = frozenset({"1", "y", "yes", "t", "true", "on"})
FALSE_WORDS = frozenset({"0", "n", "no", "f", "false", "off"})
# Secrets shorter than this are hidden in an installer's output only where they stand alone
# (not inside a longer word), and a short one of digits only (a flag, a count) not at all;
# every URL's user information and query are hidden whatever their length.
SHORTEST_SECRET = 4
# Variables whose values are credentials, whatever tool reads them.
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET|_AUTH\b|API_KEY", re.IGNORECASE)
# The bounds of the installers' numeric settings: an hour per request, a hundred retries.
MAX_TIMEOUT = 3600
MAX_RETRIES = 100
MAX_STEP_SECONDS = 7 * 24 * 3600
LINK_MODES = ("clone", "copy", "hardlink", "symlink")  # uv's UV_LINK_MODE
HOST = re.compile(r"[A-Za-z0-9.-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")


class Index:
    """Where the installer looks for packages and how it fetches them: each PIP_* setting and its
    uv spelling resolved to one checked value, which both installers are given."""

    def __init__(
        self,
        url: str,
        url_setting: str,
        extra: tuple[str, ...],
        find_links: tuple[str, ...],
        trusted_hosts: tuple[str, ...],
        no_index: bool,
        timeout: int,
        retries: int | None,
        cache_dir: str,
        cert: str | None,
        link_mode: str | None,
        secrets: tuple[str, ...],
    ) -> None:
        self.url = url  # the package index, as given (uv's UV_INDEX_URL wins over PIP_INDEX_URL)
        self.url_setting = url_setting  # which setting named it, for messages
        self.extra = extra  # further indexes
        self.find_links = find_links
        self.trusted_hosts = trusted_hosts
        self.no_index = no_index
        self.timeout = timeout  # seconds per request (whole seconds, as uv takes them)
        self.retries = retries  # None: the installer's own
        self.cache_dir = cache_dir  # uv's cache
        self.cert = cert  # the CA bundle, None: the installer's own
        self.link_mode = link_mode  # uv's UV_LINK_MODE when given
        self.secrets = secrets  # every credential the environment holds, never to be printed

    def describe(self) -> str:
        """The index in use, for messages, without any credentials."""
        if self.no_index:
            return "(no index: PIP_NO_INDEX is set)"
        return public_url(self.url) or f"of {self.url_setting} (not shown, as it may hold credentials)"


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


def value_of(environ: dict[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def setting(environ: dict[str, str], name: str) -> str:
    return value_of(environ, name) or DEFAULTS[name]


def invalid(name: str, value: str | None, form: str) -> LauncherError:
    shown = f"={value[:80]!r}" if value is not None else ""
    return LauncherError(EX_CONFIG, f"{name}{shown} is not valid: {form}")


def absolute_path(environ: dict[str, str], name: str) -> Path:
    value = setting(environ, name)
    if not value.startswith("/") or "\0" in value:
        raise invalid(name, value, "give an absolute path")
    return Path(posixpath.normpath(value))


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


def flag(environ: dict[str, str], name: str) -> bool:
    value = value_of(environ, name)
    if value is None or value.lower() in FALSE_WORDS:
        return False
    if value.lower() in TRUE_WORDS:
        return True
    raise invalid(name, value, "give 1, true, yes or on (or 0, false, no, off)")


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


# --- Package indexes ------------------------------------------------------------


def url(name: str, value: str) -> str:
    """A checked index URL; the value is never shown, as it may hold a password."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in URL_SCHEMES
        or (parts.scheme != "file" and not parts.hostname)
        or not value.isprintable()
        or any(char.isspace() for char in value)
    ):
        raise invalid(f"{name} (value not shown)", None, URL_FORM)
    return value


def urls(environ: dict[str, str], name: str, separator: str | None = None) -> tuple[str, ...]:
    return tuple(url(name, item) for item in (value_of(environ, name) or "").split(separator) if item.strip())


def links(environ: dict[str, str], name: str, separator: str | None) -> tuple[str, ...]:
    """Where --find-links looks: URLs, or absolute paths of folders of archives."""
    found = tuple(item.strip() for item in (value_of(environ, name) or "").split(separator) if item.strip())
    for item in found:
        if not item.startswith("/"):
            url(name, item)
        elif not item.isprintable():
            raise invalid(f"{name} (value not shown)", None, "give URLs, or absolute paths of folders")
    return found


def hosts(environ: dict[str, str], name: str) -> tuple[str, ...]:
    found = tuple((value_of(environ, name) or "").split())
    for host in found:
        if not HOST.fullmatch(host):
            raise invalid(name, value_of(environ, name), "give host names or host:port, separated by spaces")
    return found


def bounded(environ: dict[str, str], name: str, whole: bool, low: float, high: float, unit: str) -> float | None:
    """A number of seconds or retries in [low, high]; None when unset."""
    value = value_of(environ, name)
    if value is None:
        return None
    try:
        number = (int(value) if whole else float(value)) if value.isascii() else math.nan
    except ValueError:
        number = math.nan
    if not low <= number <= high:
        kind = "a whole number" if whole else "a number"
        raise invalid(name, value, f"give {kind} of {unit} from {low:g} to {high:g}")
    return number


def public_url(value: str) -> str | None:
    """value without credentials or query, or None when that cannot be told apart for sure.

    An '@' past the host (in a path, as Azure's `feed@view` has, or left there by a
    password with a raw '/') leaves it open what is host and what is password: such a
    URL is not shown at all.
    """
    parts = urlsplit(value)
    if "@" in parts.path or "@" in parts.query or "@" in parts.fragment:
        return None
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def secrets_in(value: str) -> set[str]:
    """What in a URL may be a credential: the password (or token), the values of its query,
    raw and decoded."""
    parts = urlsplit(value)
    found: set[str] = set()
    userinfo = parts.netloc.rpartition("@")[0]
    if userinfo:
        user, colon, password = userinfo.partition(":")
        found.add(password if colon else user)
    if "@" in parts.path:
        # A '/' in a password ends the host early; all up to the last '@' may be secret.
        found.add(value.split("://", 1)[-1].rpartition("@")[0])
    if parts.query:
        found.update(item.partition("=")[2] or item for item in parts.query.split("&"))
    return {form for secret in found for form in (secret, unquote(secret)) if form}


def secrets_of(environ: dict[str, str]) -> tuple[str, ...]:
    """Every credential the environment holds, longest first: those in any URL it names (the
    indexes, find-links, and any other tool's), and the values of *_PASSWORD and *_TOKEN."""
    found: set[str] = set()
    for name, value in environ.items():
        if SECRET_NAME.search(name):  # each line on its own: output comes line by line
            lines = {line.strip() for line in value.splitlines()}
            found.update(line for line in lines if line and not (len(line) < SHORTEST_SECRET and line.isdigit()))
        if "://" in value:
            for item in re.split(r"[\s,]+", value):
                if "://" in item:
                    found |= secrets_in(item)
    return tuple(sorted(found, key=len, reverse=True))


def either(environ: dict[str, str], pip_name: str, uv_name: str) -> str:
    """Which of a pair of settings is set: uv's spelling wins over pip's (its own name when neither is)."""
    return uv_name if value_of(environ, uv_name) is not None else pip_name


def index(environ: dict[str, str]) -> Index:
    """The index settings, each pip/uv pair resolved to one value (uv's spelling wins) and checked."""
    url_setting = either(environ, "PIP_INDEX_URL", "UV_INDEX_URL")
    index_url = url(url_setting, value_of(environ, url_setting) or DEFAULT_INDEX)
    extra = urls(environ, "PIP_EXTRA_INDEX_URL") + urls(environ, "UV_EXTRA_INDEX_URL")
    find_links = links(environ, "PIP_FIND_LINKS", None) + links(environ, "UV_FIND_LINKS", ",")
    timeout_setting = either(environ, "PIP_TIMEOUT", "UV_HTTP_TIMEOUT")
    timeout = bounded(environ, timeout_setting, timeout_setting == "UV_HTTP_TIMEOUT", 0.001, MAX_TIMEOUT, "seconds")
    retries = bounded(environ, either(environ, "PIP_RETRIES", "UV_HTTP_RETRIES"), True, 0, MAX_RETRIES, "retries")
    cache_dir = value_of(environ, "UV_CACHE_DIR")
    if cache_dir is None:
        pip_cache = value_of(environ, "PIP_CACHE_DIR")
        cache_dir = posixpath.join(pip_cache, "uv") if pip_cache else DEFAULT_UV_CACHE
    for name in ("UV_CACHE_DIR", "PIP_CACHE_DIR", "PIP_CERT", "SSL_CERT_FILE"):
        if value_of(environ, name) is not None:
            absolute_path(environ, name)
    link_mode = value_of(environ, "UV_LINK_MODE")
    if link_mode is not None and link_mode not in LINK_MODES:
        raise invalid("UV_LINK_MODE", link_mode, f"choose one of {', '.join(LINK_MODES)}")
    cert_setting = either(environ, "PIP_CERT", "SSL_CERT_FILE")
    return Index(
        url=index_url,
        url_setting=url_setting if value_of(environ, url_setting) else "the default index",
        extra=extra,
        find_links=find_links,
        trusted_hosts=hosts(environ, "PIP_TRUSTED_HOST") + hosts(environ, "UV_INSECURE_HOST"),
        no_index=flag(environ, "PIP_NO_INDEX"),
        timeout=math.ceil(timeout) if timeout else DEFAULT_HTTP_TIMEOUT,
        retries=None if retries is None else int(retries),
        cache_dir=cache_dir,
        cert=value_of(environ, cert_setting),
        link_mode=link_mode,
        secrets=secrets_of(environ),
    )
