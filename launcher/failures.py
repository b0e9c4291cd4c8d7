"""What an installer's failure means: the exit code, and the line that names what failed (CONTRACT.md, L4.5, L4.7).

What failed is read from what the installer says failed (a URL it could not fetch, the
indexes it looked in), never assumed from the settings; credentials are never shown.
"""

from __future__ import annotations

import re
import signal
import sys

from .errors import EX_CANTCREATE, EX_CONFIG, EX_INSTALL
from .indexes import SHORTEST_SECRET, public_url
from .log import printable
from .settings import Settings

# What an installer's error output means, first match wins: (pattern, exit code, what to tell the user).
# The patterns are those of the pinned uv and pip (images/python/base_requirements.txt).
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"  # the image's: the launcher runs on it
INSTALL_FAILURES = (
    (
        rf"incompatible with the project's Python requirement|the current Python version \({re.escape(PYTHON)}",
        EX_CONFIG,
        f"the project asks for another Python than this image's {PYTHON} (requires-python)",
    ),
    (
        r"Hash mismatch|DO NOT MATCH THE HASHES",
        EX_INSTALL,
        "a downloaded file does not match its hash in the lock or requirements: {indexes} serves other files "
        "than those locked",
    ),
    (
        r"Resource temporarily unavailable|[Ff]ailed to spawn|can't start new thread|Cannot allocate memory",
        EX_INSTALL,
        "the installer could not start its processes or threads: the container's limits (--pids-limit, "
        "--memory) leave it too little room; raise them",
    ),
    (
        r"No space left on device",
        EX_CANTCREATE,
        "the disk filled up (the installer's cache and builds are in /tmp); give the job more space",
    ),
    (
        r"(?m)Expected '=' or whitespace, found .*:\d+:\d+$",
        EX_CONFIG,
        "uv does not read an option joined to its value (such as -rfile.txt) in a requirements file: put a space "
        "between them (-r file.txt), or set LAUNCHER_INSTALLER=pip",
    ),
    (
        r"(?m)Couldn't parse requirement|Invalid requirement|Invalid marker|expected '-c', '-e', '-r' or the start|"
        r"error: Expected `[^`]+`, found .*:\d+:\d+$|must be followed by an argument: .*:\d+:\d+$|"
        r"Unexpected '[^']*', expected '-c', '-e', '-r'|Invalid URL in `[^`]+` at position",
        EX_CONFIG,
        "a requirement is not valid; fix the line shown above",
    ),
    (
        r"File not found: `|Could not open requirements file|Error parsing included file",
        EX_CONFIG,
        "a file named in the requirements is missing from the bundle",
    ),
    (
        r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|invalid peer certificate|UnknownIssuer",
        EX_INSTALL,
        "{place} presented a certificate that this job does not trust; give the CA bundle that signed it with "
        "PIP_CERT or SSL_CERT_FILE",
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
        r"Because (?P<package>[A-Za-z0-9._-]+?)(?:==\S+)? has no wheels with a matching platform tag",
        EX_INSTALL,
        "{package} has no wheel for this image (Linux, CPython " + PYTHON + "), only for {platforms}; a `pip freeze` "
        "from another system names such packages: remove it, or give it a marker such as `; sys_platform == 'win32'`",
    ),
    (
        r"Because (?P<package>[A-Za-z0-9._-]+?)(?:==\S+)? has no usable wheels and",
        EX_INSTALL,
        "{package} has no wheel that fits, and building from source is off (--only-binary or --no-build): let it "
        "build (leave it out of --only-binary), or pick a version with wheels",
    ),
    (
        r"Distribution not found at: (?P<url>file://\S+)",
        EX_CONFIG,
        "the requirements name {url}, a path that is not in this job (a `pip freeze` from a conda environment "
        "writes such lines): pin the version instead (NAME==VERSION)",
    ),
    (
        r"(?s)Updating (?P<url>\S+) \([^)\n]*\)\n.*Git operation failed",
        EX_INSTALL,
        "fetching the Git repository {url} failed (git's error is above): check the URL, the job's network and "
        "its credentials",
    ),
    (
        r"Because (?P<package>[A-Za-z0-9._-]+) was not found in the",
        EX_INSTALL,
        "{package} is not available from {indexes}",
    ),
    (
        r"No matching distribution found for (?P<package>[^\s;]+)",
        EX_INSTALL,
        "{package} is not available from {indexes}",
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
CONNECTION_POOL = re.compile(
    r"(HTTPS?)ConnectionPool\(host='([^']+)', port=(\d+)\)(?:: Max retries exceeded with url: (\S+))?"
)
COULD_NOT_FETCH = re.compile(r"Could not fetch URL (https?://\S+?):? ")
LOOKING_IN = re.compile(r"^Looking in indexes: (.+)$", re.MULTILINE)
# uv's hint after a package that has no wheel for this platform.
WHEEL_PLATFORMS = re.compile(r"Wheels are available for `[^`]+` \([^)]*\) on the following platforms?: (.+)$", re.M)
HIDDEN = "****"  # what credentials become in output, as uv and pip hide them too
# The user information (`user:password@`) and the query (`?token=...`) of a URL in a line of output.
URL_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^\s/?#@`'\"]+@")
URL_QUERY = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s?#`'\"]*\?)[^\s#`'\"]+")


def status(code: int) -> str:
    """How a child process ended, in words."""
    if code < 0:
        name = signal.Signals(-code).name
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"was killed by {name}{hint}"
    return f"exited {code}"


def without_traceback(lines: list[str]) -> list[str]:
    """A tool's lines with a Python traceback in them cut down to what it raised (the log keeps all)."""
    starts = [
        index for index, line in enumerate(lines) if line.lstrip().startswith("Traceback (most recent call last)")
    ]
    if not starts:
        return lines
    raised = next((line for line in reversed(lines[starts[-1] :]) if line.strip()), "")
    return [*lines[: starts[-1]], raised.strip()]


def explain_failure(lines: list[str], settings: Settings, failures: tuple = INSTALL_FAILURES) -> tuple[int, str]:
    """The exit code and the explanation for an installer's failure, from its output: what
    failed is named from what the installer says failed, not from the settings."""
    text = "\n".join(lines)
    for pattern, code, hint in failures:
        if match := re.search(pattern, text):
            platforms = WHEEL_PLATFORMS.search(text)
            return code, hint.format(
                place=failing_place(text),
                indexes=indexes_in_use(text, settings),
                platforms=platforms.group(1).replace("`", "") if platforms else "other platforms",
                **{name: named(name, value) for name, value in match.groupdict().items() if value},
            )
    return EX_INSTALL, "see the installer's error above"


def named(group: str, value: str) -> str:
    """What a pattern's group found, as a message may show it: a URL without its user
    information and query (or not at all, when those cannot be told apart for sure)."""
    if group != "url":
        return printable(value)
    return printable(public_url(value) or "(a URL not shown, as it may hold credentials)")


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
        scheme, host, port, path = pools[-1]
        if path and "/simple" not in path:  # a download, not an index page
            return shown_url(f"{scheme.lower()}://{host}:{port}{path}")
        return f"the package index at {host}:{port}"
    fetched = COULD_NOT_FETCH.findall(text)  # pip, for an index page it could not get
    if fetched:
        return shown_url(fetched[-1])
    looked = LOOKING_IN.findall(text)  # pip, which names the indexes it tried
    if looked:
        return "the package index " + ", ".join(shown_url(url.strip()) for url in looked[-1].split(","))
    return "a package index (see the installer's error above)"


def indexes_in_use(text: str, settings: Settings) -> str:
    """The indexes an installer looked in: as pip lists them, or as the settings name them."""
    looked = LOOKING_IN.findall(text)  # pip
    if looked:
        return ", ".join(shown_url(url.strip()) for url in looked[-1].split(","))
    extra = " (or the extra indexes of PIP_EXTRA_INDEX_URL)" if settings.index.extra else ""
    return settings.index.describe() + extra


def scrub(line: str, secrets: tuple[str, ...]) -> str:
    """line with every credential hidden: the user information and the query of every URL in it,
    whatever their length, and each secret the environment holds (longest first)."""
    if "://" in line:
        line = URL_USERINFO.sub(rf"\1{HIDDEN}@", line)
        line = URL_QUERY.sub(rf"\1{HIDDEN}", line)
    for secret in secrets:
        if len(secret) >= SHORTEST_SECRET:
            line = line.replace(secret, HIDDEN)
        elif secret in line:
            line = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", HIDDEN, line)
    return line
