#!/usr/bin/env python3
"""Launcher of exec-python-3.11: unpack the code bundle, install its requirements, run the job.

Usage: /build/launcher.py -- COMMAND [ARGS...]

The contract this implements, clause by clause, is CONTRACT.md.
Standard library only: this runs before any of the job's requirements exist.
"""

from __future__ import annotations

import bz2
import errno
import gzip
import io
import lzma
import os
import re
import shutil
import signal
import stat
import sys
import tarfile
import threading
import time
import zlib
from pathlib import Path

# subprocess and tomllib are imported where they are needed: every job pays for
# what is imported here before its command starts.

NAME = "launcher"
USAGE = "usage: /build/launcher.py -- COMMAND [ARGS...]"

# Paths (each settable, for tests and for orchestrators with other layouts).
CODE = Path(os.environ.get("LAUNCHER_CODE", "/code"))
OUTPUTS = Path(os.environ.get("LAUNCHER_OUTPUTS", "/outputs"))
WORKDIR = Path(os.environ.get("LAUNCHER_WORKDIR", "/tmp/job"))
JOB_ENV = Path(os.environ.get("LAUNCHER_JOB_ENV", "/tmp/job-env"))
BASE_ENV = Path(os.environ.get("VIRTUAL_ENV", sys.prefix))
LOG_NAME = "requirements.log"

# Limits on an extracted bundle.
MAX_BYTES = int(os.environ.get("LAUNCHER_MAX_BYTES", str(1 << 30)))
MAX_MEMBERS = int(os.environ.get("LAUNCHER_MAX_MEMBERS", "100000"))

# Reading tar headers ahead of extraction (see survey()).
TAR_BLOCK = 512
ZERO_BLOCK = bytes(TAR_BLOCK)
TAR_META_TYPES = (b"x", b"g", b"L", b"K")  # pax and GNU headers that describe the next member
PAX_SIZE = re.compile(rb"(?:^|\n)\d+ size=(\d+)\n")
COPY_BUFFER = 1 << 20
OPENERS = {"tar": open, "gzip": gzip.open, "bzip2": bz2.open, "xz": lzma.open}

# User settings: which requirements to install ("none" turns installation off), and with what.
REQUIREMENTS_SETTING = "LAUNCHER_REQUIREMENTS"
INSTALLER_SETTING = "LAUNCHER_INSTALLER"
INSTALLERS = ("uv", "pip")

# Detection, first match wins (CONTRACT.md, clause L3).
REQUIREMENTS_TXT = "requirements.txt"
PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg")
UNSUPPORTED_FILES = {
    "Pipfile": "Pipenv",
    "Pipfile.lock": "Pipenv",
    "environment.yml": "conda",
    "environment.yaml": "conda",
    "conda.yml": "conda",
    "conda.yaml": "conda",
    "pixi.toml": "pixi",
}
SUPPORTED = "requirements.txt, pyproject.toml, setup.py or setup.cfg, or one .py file with PEP 723 inline metadata"

# A lone file in a /code directory with one of these names is taken as the bundle,
# even when its content is not a tar archive (which is then refused).
ARCHIVE_SUFFIXES = (".tar", ".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip")

# Entries that archivers add beside the real content, ignored when deciding
# whether the bundle sits under one top-level directory.
IGNORED_TOP_LEVEL = frozenset({"__MACOSX", ".DS_Store"})

# Exit codes of the launcher's own failures (sysexits.h), distinct from the job's,
# which pass through unchanged.
EX_USAGE = 64  # no command
EX_BUNDLE = 65  # the bundle cannot be extracted, or is refused
EX_INSTALL = 69  # installing the requirements failed
EX_SOFTWARE = 70  # a bug in the launcher
EX_CANTCREATE = 73  # no writable place for the job
EX_CONFIG = 78  # the requirements are declared in a way that is not supported
# Shell conventions for a command that cannot be run.
EX_NOEXEC = 126
EX_NOTFOUND = 127

INSTALL_TAIL_LINES = 15
# What an installer's error output means, first match wins: (pattern, exit code, what to tell the user).
# The patterns are those of the pinned uv and pip (images/python/base_requirements.txt).
INSTALL_FAILURES = (
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
        "the package index {index} could not be reached; check PIP_INDEX_URL and the job's network",
    ),
    (
        r"timed out|Read timed out",
        EX_INSTALL,
        "the package index {index} did not answer in time (PIP_TIMEOUT sets the limit in seconds)",
    ),
    (
        r"was not found in the|No matching distribution found|Could not find a version",
        EX_INSTALL,
        "a requirement is not available from {index}",
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
# uv's HTTP timeout when neither UV_HTTP_TIMEOUT nor PIP_TIMEOUT is set: pip's default,
# instead of uv's 30 s, so that an index that stops answering fails within about a minute.
DEFAULT_HTTP_TIMEOUT = "15"
PEP723_BLOCK = re.compile(r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$")
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})


class LauncherError(Exception):
    """A failure of the launcher itself: one line for the user, and an exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def say(message: str) -> None:
    print(f"{NAME}: {message}", file=sys.stderr, flush=True)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# --- Invocation ---------------------------------------------------------------


def parse_command(argv: list[str]) -> list[str]:
    """Return the user's argv: everything after the first `--`."""
    if "--" not in argv:
        raise LauncherError(EX_USAGE, f"no command given; {USAGE}")
    command = argv[argv.index("--") + 1 :]
    if not command:
        raise LauncherError(EX_USAGE, f"no command after '--'; {USAGE}")
    return command


# --- The log at /outputs/requirements.log ------------------------------------


class Log:
    """Appends every step to /outputs/requirements.log when /outputs exists; flushes each line."""

    def __init__(self, file: io.TextIOWrapper | None) -> None:
        self.file = file
        self.lock = threading.Lock()

    @classmethod
    def open(cls) -> Log:
        if not OUTPUTS.is_dir():
            if OUTPUTS.exists():
                say(f"{OUTPUTS} is not a directory; going on without the log")
            return cls(None)
        path = OUTPUTS / LOG_NAME
        try:
            return cls(path.open("a", encoding="utf-8", errors="backslashreplace", buffering=1))
        except OSError as error:
            say(f"cannot write {path} ({error.strerror}); going on without the log")
            return cls(None)

    def write(self, line: str) -> None:
        if self.file is None:
            return
        with self.lock:
            try:
                self.file.write(line.rstrip("\n") + "\n")
            except OSError as error:
                self.file = None
                say(f"cannot write {OUTPUTS / LOG_NAME} any more ({error.strerror}); going on without the log")

    def step(self, text: str) -> None:
        self.write(f"== {now()} {text}")

    def close(self) -> None:
        if self.file is not None:
            try:
                self.file.close()
            except OSError as error:
                say(f"cannot finish {OUTPUTS / LOG_NAME} ({error.strerror}); its last lines may be missing")
            self.file = None


# --- The code bundle -----------------------------------------------------------


def is_within(root: str, target: str) -> bool:
    """True when target is root or below it (never a sibling such as root + '2')."""
    root, target = os.path.normpath(root), os.path.normpath(target)
    return target == root or target.startswith(root + os.sep)


def resolve(root: str, name: str, links: set[str]) -> str:
    """Where member name lands under root.

    Only links extracted earlier can redirect a path, and only a `..` step can
    climb: a name with neither is resolved lexically, without touching the disk
    (this keeps bundles of many small files fast). Anything else is resolved
    against what is on disk.
    """
    relative = os.path.normpath(name)
    parts = relative.split(os.sep)
    if ".." in name.split("/") or any(os.sep.join(parts[: i + 1]) in links for i in range(len(parts))):
        return os.path.realpath(os.path.join(root, name))
    return os.path.join(root, relative)


def check_member(root: str, member: tarfile.TarInfo, links: set[str]) -> str | None:
    """Why member may not be extracted under root (a resolved path), or None.

    links holds the members extracted so far that are links, so that a member
    cannot reach outside through one of them.
    """
    if os.path.isabs(member.name):
        return "absolute path"
    target = resolve(root, member.name, links)
    if not is_within(root, target):
        return "path leaves the bundle"
    if member.isdev() or member.isfifo():
        return "device or FIFO"
    if member.issym():
        if os.path.isabs(member.linkname):
            return f"symlink to absolute path {member.linkname!r}"
        if not is_within(root, os.path.realpath(os.path.join(os.path.dirname(target), member.linkname))):
            return f"symlink to {member.linkname!r} points outside the bundle"
    if member.islnk() and not is_within(root, os.path.realpath(os.path.join(root, member.linkname))):
        return f"hardlink to {member.linkname!r} points outside the bundle"
    return None


class BundleTar(tarfile.TarFile):
    """Never hands extracted files to the uids and gids recorded in the archive."""

    def chown(self, *args: object, **kwargs: object) -> None:
        pass


def sniff(path: Path) -> str:
    """What a bundle file is, by content: tar, gzip, bzip2, xz, zip or unknown."""
    with path.open("rb") as file:
        head = file.read(512)
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head[257:262] == b"ustar":
        return "tar"
    return "unknown"


def header_number(field: bytes) -> int:
    """A numeric tar header field: octal text, or GNU base-256 when the high bit is set."""
    if field[0] & 0x80:
        return int.from_bytes(field[1:], "big")
    return int(field.strip(b"\0 ") or b"0", 8)


def padded(size: int) -> int:
    """How many bytes a member of this size takes in the archive: whole blocks."""
    return -(-size // TAR_BLOCK) * TAR_BLOCK


def survey(source: Path, kind: str) -> None:
    """Refuse a bundle over the caps from its headers alone, before anything is written.

    A decompression bomb or a flood of tiny files is thus refused in the time it
    takes to decompress it, without filling the disk. A damaged archive is left
    for the extraction to report.
    """
    count = total = 0
    try:
        with OPENERS[kind](source, "rb") as stream:
            pending_size: int | None = None
            while len(header := stream.read(TAR_BLOCK)) == TAR_BLOCK and header != ZERO_BLOCK:
                size = header_number(header[124:136])
                if header[156:157] in TAR_META_TYPES:
                    data = stream.read(padded(size))
                    if header[156:157] == b"x" and (match := PAX_SIZE.search(data[:size])):
                        pending_size = int(match.group(1))
                    continue
                if pending_size is not None:
                    size, pending_size = pending_size, None
                count += 1
                total += size
                over_caps(source, count, total, header[:100].split(b"\0")[0].decode("utf-8", "replace"))
                stream.seek(padded(size), os.SEEK_CUR)
    except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError):
        return


def over_caps(source: Path, count: int, total: int, name: str) -> None:
    if count > MAX_MEMBERS:
        raise LauncherError(EX_BUNDLE, f"{source}: more than {MAX_MEMBERS} members (limit: LAUNCHER_MAX_MEMBERS)")
    if total > MAX_BYTES:
        raise LauncherError(
            EX_BUNDLE, f"{source}: content exceeds {MAX_BYTES} bytes at {name!r} (limit: LAUNCHER_MAX_BYTES)"
        )


def write_file(archive: tarfile.TarFile, member: tarfile.TarInfo, path: str) -> None:
    """Write a regular member as a new file at path (a duplicate replaces, never writes through a link)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, member.mode & 0o7777)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, flags, member.mode & 0o7777)
    except FileExistsError:
        os.unlink(path)
        fd = os.open(path, flags, member.mode & 0o7777)
    try:
        if member.size <= COPY_BUFFER:
            # Small members are read in one go from the archive's own stream.
            archive.fileobj.seek(member.offset_data)
            data = archive.fileobj.read(member.size)
            if len(data) != member.size:
                raise tarfile.ReadError(f"unexpected end of data in {member.name!r}")
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        else:
            with archive.extractfile(member) as source, os.fdopen(os.dup(fd), "wb") as file:
                shutil.copyfileobj(source, file, COPY_BUFFER)
        os.fchmod(fd, member.mode & 0o7777)
        os.utime(fd, (member.mtime, member.mtime))
    finally:
        os.close(fd)


def extract(source: Path, root: Path) -> None:
    """Extract the tar file source into root, member by member, refusing unsafe ones."""
    kind = sniff(source)
    if kind == "zip":
        raise LauncherError(
            EX_BUNDLE, f"{source} is a zip archive; bundles are tar files (tar czf bundle.tgz -C DIR .)"
        )
    if kind == "unknown":
        raise LauncherError(
            EX_BUNDLE, f"{source} is not a tar archive; make the bundle with: tar czf bundle.tgz -C DIR ."
        )
    survey(source, kind)
    real_root = os.path.realpath(root)
    links: set[str] = set()
    count = total = 0
    member = None
    try:
        with BundleTar.open(source, mode="r:*") as archive:
            for member in archive:
                count += 1
                total += member.size
                over_caps(source, count, total, member.name)
                reason = check_member(real_root, member, links)
                if reason:
                    raise LauncherError(EX_BUNDLE, f"{source}: refused member {member.name!r}: {reason}")
                member.mode = (member.mode & ~(stat.S_ISUID | stat.S_ISGID)) | (0o700 if member.isdir() else 0o600)
                if member.isreg() and not member.issparse():
                    write_file(archive, member, os.path.join(real_root, os.path.normpath(member.name)))
                else:
                    archive.extract(member, real_root, set_attrs=not member.issym())
                if member.issym() or member.islnk():
                    links.add(os.path.normpath(member.name))
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as error:
        raise LauncherError(EX_BUNDLE, f"{source}: {kind} archive is truncated or corrupt ({error})") from error
    except OSError as error:
        where = f" member {member.name!r}" if member is not None else ""
        if error.errno == errno.ENOSPC:
            raise LauncherError(
                EX_BUNDLE,
                f"{source}: no space left in {root} while extracting{where}; give the job a larger /tmp",
            ) from error
        raise LauncherError(EX_BUNDLE, f"{source}: cannot extract{where} ({error.strerror})") from error
    if count == 0:
        raise LauncherError(EX_BUNDLE, f"{source} is an empty archive; the bundle holds no files")


def make_dir(path: Path) -> Path:
    try:
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
    except OSError as error:
        raise LauncherError(
            EX_CANTCREATE, f"cannot create {path} ({error.strerror}); give the job a writable /tmp"
        ) from error
    return path


def single_top_level(root: Path) -> Path:
    """The one directory that holds the whole bundle, or root itself."""
    entries = [entry for entry in root.iterdir() if entry.name not in IGNORED_TOP_LEVEL]
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return root


def copy_directory(source: Path, root: Path) -> None:
    try:
        shutil.copytree(source, root, symlinks=True, dirs_exist_ok=True)
    except (OSError, shutil.Error) as error:
        raise LauncherError(EX_BUNDLE, f"cannot copy the bundle directory {source} ({error})") from error


def is_bundle_file(path: Path) -> bool:
    """Whether a lone file in a /code directory is the bundle: an archive by content or by name."""
    return sniff(path) != "unknown" or path.name.lower().endswith(ARCHIVE_SUFFIXES)


def prepare_bundle() -> Path:
    """Put the bundle in a writable working directory and return where the job runs."""
    root = make_dir(WORKDIR)
    if not CODE.exists():
        say(f"no code bundle at {CODE}; running in the empty directory {root}")
        return root
    try:
        if CODE.is_dir():
            entries = list(CODE.iterdir())
            if len(entries) == 1 and entries[0].is_file() and is_bundle_file(entries[0]):
                extract(entries[0], root)
            else:
                copy_directory(CODE, root)
        else:
            extract(CODE, root)
    except PermissionError as error:
        raise LauncherError(
            EX_BUNDLE,
            f"cannot read {error.filename or CODE} ({error.strerror}); "
            f"the bundle must be readable by the job's uid {os.getuid()}",
        ) from error
    return single_top_level(root)


# --- Detecting the requirements method ------------------------------------------


class Plan:
    """How to install a bundle's requirements: the method, why, and the installer arguments."""

    def __init__(self, method: str, reason: str, args: list[str], setup_py_shim: Path | None = None) -> None:
        self.method = method
        self.reason = reason
        self.args = args
        # Where a setup.cfg-only project needs a setup.py for PEP 517 front ends to build it.
        self.setup_py_shim = setup_py_shim

    def __repr__(self) -> str:
        return f"Plan({self.method!r}, {self.reason!r}, {self.args!r}, setup_py_shim={self.setup_py_shim!r})"


def load_toml(text: str) -> dict[str, object]:
    """Parse TOML; a ValueError (tomllib.TOMLDecodeError) says where it is invalid."""
    import tomllib

    return tomllib.loads(text)


def inline_metadata(script: Path) -> dict[str, object] | None:
    """The PEP 723 `script` table of a .py file, or None when it has none."""
    try:
        text = script.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    blocks = [match for match in PEP723_BLOCK.finditer(text) if match.group("type") == "script"]
    if not blocks:
        return None
    if len(blocks) > 1:
        raise LauncherError(EX_CONFIG, f"{script.name}: more than one '# /// script' block; keep one")
    content = "".join(
        line[2:] if line.startswith("# ") else line[1:] for line in blocks[0].group("content").splitlines(keepends=True)
    )
    try:
        return load_toml(content)
    except ValueError as error:
        raise LauncherError(
            EX_CONFIG, f"{script.name}: the '# /// script' block is not valid TOML ({error})"
        ) from error


def script_plan(script: Path, reason: str) -> Plan:
    metadata = inline_metadata(script)
    if metadata is None:
        raise LauncherError(EX_CONFIG, f"{script.name} has no '# /// script' block (PEP 723)")
    dependencies = metadata.get("dependencies", [])
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        raise LauncherError(
            EX_CONFIG, f"{script.name}: 'dependencies' in the '# /// script' block must be a list of strings"
        )
    return Plan(f"inline script metadata of {script.name}", reason, list(dependencies))


def project_plan(directory: Path, target: str, name: str, method: str, reason: str) -> Plan:
    """Install the project in directory (given to the installer as target), declared by the file name."""
    pyproject = directory / "pyproject.toml"
    if pyproject.is_file():
        try:
            load_toml(pyproject.read_text(encoding="utf-8"))
        except ValueError as error:  # not TOML, or not UTF-8
            raise LauncherError(EX_CONFIG, f"{pyproject.name} is not valid TOML ({error}); fix it") from error
    declared_elsewhere = any((directory / other).exists() for other in ("pyproject.toml", "setup.py"))
    shim = directory / "setup.py" if name == "setup.cfg" and not declared_elsewhere else None
    return Plan(method, reason, [target], setup_py_shim=shim)


def requested_plan(workdir: Path, setting: str) -> Plan | None:
    """The plan named by LAUNCHER_REQUIREMENTS, or None when it turns installation off."""
    if setting.lower() == "none":
        return None
    path = workdir / setting
    if not path.is_file():
        raise LauncherError(EX_CONFIG, f"{REQUIREMENTS_SETTING}={setting}: no such file in the bundle")
    reason = f"named by {REQUIREMENTS_SETTING}"
    if path.suffix == ".py":
        return script_plan(path, reason)
    if path.name in PROJECT_FILES:
        method = f"project at {path.parent.relative_to(workdir)}"
        return project_plan(path.parent, str(path.parent), path.name, method, reason)
    return Plan(setting, reason, ["-r", setting])


def detect(workdir: Path) -> Plan | None:
    """Decide how to install the bundle's requirements; None means nothing to install."""
    setting = os.environ.get(REQUIREMENTS_SETTING, "").strip()
    if setting:
        return requested_plan(workdir, setting)
    present = {entry.name for entry in workdir.iterdir()}
    ignored = sorted(present & ({*PROJECT_FILES, *UNSUPPORTED_FILES}))
    if REQUIREMENTS_TXT in present:
        note = f"; not used: {', '.join(ignored)} (requirements.txt wins)" if ignored else ""
        return Plan(REQUIREMENTS_TXT, f"found {REQUIREMENTS_TXT}{note}", ["-r", REQUIREMENTS_TXT])
    for name in PROJECT_FILES:
        if name in present:
            others = [other for other in ignored if other != name]
            note = f"; not used: {', '.join(others)}" if others else ""
            return project_plan(workdir, ".", name, f"project ({name})", f"found {name}{note}")
    scripts = sorted(p for p in workdir.glob("*.py") if p.is_file() and inline_metadata(p) is not None)
    if len(scripts) > 1:
        names = ", ".join(p.name for p in scripts)
        raise LauncherError(
            EX_CONFIG, f"several scripts carry inline metadata ({names}); name one with {REQUIREMENTS_SETTING}=FILE"
        )
    if scripts:
        return script_plan(scripts[0], f"found inline script metadata in {scripts[0].name}")
    unsupported = sorted(present & UNSUPPORTED_FILES.keys())
    if unsupported:
        found = ", ".join(f"{name} ({UNSUPPORTED_FILES[name]})" for name in unsupported)
        raise LauncherError(EX_CONFIG, f"found {found}, which is not supported; declare requirements with {SUPPORTED}")
    return None


# --- Installing ------------------------------------------------------------------


def is_true(value: str | None) -> bool:
    return (value or "").strip().lower() in TRUE_WORDS


def site_packages(env: Path) -> Path:
    return env / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def target_env(log: Log) -> Path:
    """The environment to install into: the image's own, or a job-local one layered over it."""
    if os.access(site_packages(BASE_ENV), os.W_OK):
        return BASE_ENV
    if not (JOB_ENV / "pyvenv.cfg").exists():
        make_dir(JOB_ENV)
        command = [str(BASE_ENV / "bin" / "python"), "-m", "venv", "--without-pip", str(JOB_ENV)]
        log.step(f"{BASE_ENV} is not writable; making the job environment {JOB_ENV}: {' '.join(command)}")
        import subprocess

        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise LauncherError(EX_CANTCREATE, f"cannot create the job environment {JOB_ENV}: {result.stderr.strip()}")
        # The image's libraries stay importable, after the job's own.
        (site_packages(JOB_ENV) / "_exec_base.pth").write_text(f"{site_packages(BASE_ENV)}\n")
    say(f"{BASE_ENV} is not writable; installing into {JOB_ENV}, layered over it")
    return JOB_ENV


def installer_env() -> dict[str, str]:
    """The environment for the installer: the standard PIP_* settings, also in uv's spelling."""
    env = dict(os.environ)
    mapping = {
        "PIP_INDEX_URL": "UV_INDEX_URL",
        "PIP_EXTRA_INDEX_URL": "UV_EXTRA_INDEX_URL",
        "PIP_TRUSTED_HOST": "UV_INSECURE_HOST",
        "PIP_TIMEOUT": "UV_HTTP_TIMEOUT",
        "PIP_RETRIES": "UV_HTTP_RETRIES",
    }
    for pip_name, uv_name in mapping.items():
        if env.get(pip_name) and not env.get(uv_name):
            env[uv_name] = env[pip_name]
    if env.get("PIP_FIND_LINKS") and not env.get("UV_FIND_LINKS"):
        env["UV_FIND_LINKS"] = ",".join(env["PIP_FIND_LINKS"].split())
    env.setdefault("UV_HTTP_TIMEOUT", DEFAULT_HTTP_TIMEOUT)
    if env.get("PIP_CERT") and not env.get("SSL_CERT_FILE"):
        env["SSL_CERT_FILE"] = env["PIP_CERT"]
    if not env.get("UV_CACHE_DIR"):
        env["UV_CACHE_DIR"] = str(Path(env["PIP_CACHE_DIR"]) / "uv") if env.get("PIP_CACHE_DIR") else "/tmp/uv-cache"
    env.setdefault("UV_PYTHON_DOWNLOADS", "never")
    env.setdefault("UV_NO_PROGRESS", "1")
    return env


def install_command(installer: str, env: Path, plan: Plan) -> list[str]:
    python = str(env / "bin" / "python")
    no_index = ["--no-index"] if is_true(os.environ.get("PIP_NO_INDEX")) else []
    if installer == "uv":
        return [str(BASE_ENV / "bin" / "uv"), "pip", "install", "--python", python, *no_index, *plan.args]
    return [python, "-m", "pip", "install", "--no-input", *plan.args]


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


def index_url() -> str:
    """The package index in use, for messages, without any credentials in it."""
    url = os.environ.get("UV_INDEX_URL") or os.environ.get("PIP_INDEX_URL") or "https://pypi.org/simple"
    if is_true(os.environ.get("PIP_NO_INDEX")):
        return "(no index: PIP_NO_INDEX is set)"
    return re.sub(r"//[^/@]*@", "//", url)


def explain_failure(lines: list[str]) -> tuple[int, str]:
    """The exit code and the explanation for an installer's failure, from its output."""
    text = "\n".join(lines)
    for pattern, code, hint in INSTALL_FAILURES:
        if re.search(pattern, text):
            return code, hint.format(index=index_url())
    return EX_INSTALL, "see the installer's error above"


def pump(stream: io.TextIOWrapper, label: str, log: Log, lines: list[str]) -> None:
    for line in stream:
        log.write(f"{label}| {line}")
        lines.append(line.rstrip("\n"))


def install(plan: Plan, log: Log, workdir: Path) -> Path:
    """Install the plan's requirements from workdir; returns the environment the job runs in."""
    installer = os.environ.get(INSTALLER_SETTING, "uv").strip() or "uv"
    if installer not in INSTALLERS:
        raise LauncherError(EX_CONFIG, f"{INSTALLER_SETTING}={installer}: choose one of {', '.join(INSTALLERS)}")
    env = target_env(log)
    if plan.setup_py_shim:
        log.step("setup.cfg without setup.py or pyproject.toml: adding setup.py with `setup()` so that it builds")
        plan.setup_py_shim.write_text("from setuptools import setup\n\nsetup()\n")
    command = install_command(installer, env, plan)
    log.step(f"run: {' '.join(command)}")
    started = time.monotonic()
    out: list[str] = []
    err: list[str] = []
    import subprocess

    try:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=installer_env(),
            text=True,
            errors="replace",
        )
    except OSError as error:
        raise LauncherError(EX_INSTALL, f"cannot start {command[0]} ({error.strerror})") from error
    assert process.stdout is not None and process.stderr is not None
    readers = [
        threading.Thread(target=pump, args=(process.stdout, "stdout", log, out)),
        threading.Thread(target=pump, args=(process.stderr, "stderr", log, err)),
    ]
    for reader in readers:
        reader.start()
    code = process.wait()
    for reader in readers:
        reader.join()
    elapsed = time.monotonic() - started
    log.step(f"exit {code} after {elapsed:.2f} s")
    if code != 0:
        for line in (err or out)[-INSTALL_TAIL_LINES:]:
            print(line, file=sys.stderr)
        where = f"; full output in {OUTPUTS / LOG_NAME}" if log.file else ""
        exit_code, hint = explain_failure(err + out)
        raise LauncherError(exit_code, f"installing {plan.method} failed ({installer} {status(code)}): {hint}{where}")
    say(
        f"installed {plan.method} with {installer}: {count_installed(installer, out + err)} packages in {elapsed:.1f} s"
    )
    return env


# --- Running ------------------------------------------------------------------------


def job_environment(env: Path) -> dict[str, str]:
    environment = dict(os.environ)
    if env != BASE_ENV:
        environment["VIRTUAL_ENV"] = str(env)
        environment["PATH"] = f"{env / 'bin'}{os.pathsep}{environment.get('PATH', '')}"
    return environment


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


def run(command: list[str], workdir: Path, environment: dict[str, str]) -> None:
    """Hand this process over to the user's command (it keeps the PID, signals and exit code)."""
    os.chdir(workdir)
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
        raise LauncherError(EX_NOTFOUND, f"command not found{where}: {name!r}") from error
    except PermissionError as error:
        what = (
            "is a directory"
            if os.path.isdir(name)
            else "is not executable (chmod +x it, or run it with its interpreter)"
        )
        raise LauncherError(EX_NOEXEC, f"command {name!r} {what}") from error
    except OSError as error:
        raise LauncherError(EX_NOEXEC, f"cannot run {name!r}: {error.strerror}") from error


def main(argv: list[str]) -> int:
    log = Log(None)
    try:
        command = parse_command(argv)
        log = Log.open()
        workdir = prepare_bundle()
        plan = detect(workdir)
        env = BASE_ENV
        if plan is None:
            why = (
                f"{REQUIREMENTS_SETTING}=none" if os.environ.get(REQUIREMENTS_SETTING) else "no requirements file found"
            )
            log.step(f"detect: nothing to install ({why})")
            say(f"nothing to install ({why})")
        else:
            log.step(f"detect: {plan.method} ({plan.reason})")
            env = install(plan, log, workdir)
        log.close()
        run(command, workdir, job_environment(env))
    except LauncherError as error:
        log.step(f"failed: {error}")
        log.close()
        say(str(error))
        return error.code
    except Exception as error:  # a launcher bug: say so in one line, keep the details for a bug report
        say(f"internal error: {type(error).__name__}: {error}; set LAUNCHER_DEBUG=1 for the traceback")
        if os.environ.get("LAUNCHER_DEBUG"):
            raise
        return EX_SOFTWARE
    return 0  # not reached: run() replaces this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
