"""The installers' settings: each PIP_* setting and its uv spelling resolved to one checked value,
and every credential the environment holds, to be hidden wherever output is shown (CONTRACT.md, L4.7, L4.10, L7.2).

settings.read() calls index(); the installers are given only what it resolved (commands.installer_env).
"""

from __future__ import annotations

import math
import posixpath
import re
from urllib.parse import unquote, urlsplit, urlunsplit

from .values import absolute, bounded, flag, invalid, value_of

# uv's HTTP timeout when neither UV_HTTP_TIMEOUT nor PIP_TIMEOUT is set: pip's default,
# instead of uv's 30 s, so that an index that stops answering fails within about a minute.
DEFAULT_HTTP_TIMEOUT = 15
DEFAULT_UV_CACHE = "/tmp/uv-cache"
DEFAULT_INDEX = "https://pypi.org/simple"

URL_SCHEMES = ("http", "https", "file")
URL_FORM = (
    "give http(s)://[user:password@]host[:port]/path, with any '@', ':' or '/' "
    "in the user name or password percent-encoded (%40, %3A, %2F)"
)
# Secrets shorter than this are hidden in an installer's output only where they stand alone
# (not inside a longer word), and a short one of digits only (a flag, a count) not at all;
# every URL's user information and query are hidden whatever their length.
SHORTEST_SECRET = 4
# Variables whose values are credentials, whatever tool reads them.
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET|_AUTH\b|API_KEY", re.IGNORECASE)
# The bounds of the installers' numeric settings: an hour per request, a hundred retries.
MAX_TIMEOUT = 3600
MAX_RETRIES = 100
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
        value = value_of(environ, name)
        if value is not None:
            absolute(name, value)
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
