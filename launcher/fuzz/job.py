#!/usr/bin/env python3
"""Fuzz the whole launcher up to the hand-over: settings, bundle, hygiene, detection, the log.

usage: job.py CORPUS_DIR [libFuzzer flags...]   (make fuzz runs it)

Each input is read, structure first, as a job: its settings (any of the launcher's, and
the installers'), its command, and its bundle (none, a tar, a gzip'd tar, a zip, or a
directory) made member by member: names from pieces that matter (Unicode composed and
decomposed, line breaks, terminal escapes, bidirectional overrides, long and deep
paths, `..`, virtual-environment markers), link webs (`d -> .`, `s -> d/..`), and
documents shaped like the manifests the launcher reads (pyproject.toml, PEP 723 blocks,
requirements files, locks, Pipfiles), valid and broken. main.prepare() runs it
in-process, with an installer that only checks the plan it is given.

After each input, these must hold (else the fuzzer stops and keeps the input):
- prepare() returns a hand-over or an exit code the contract lists, never 70 (a bug);
- nothing outside the root is created, changed or removed: canaries beside the root, in
  /outputs, and the bundle itself stay as they were, and nothing new appears in / or
  /tmp (when make fuzz gives the target a /tmp of its own);
- every line on stderr is one printable line that starts `launcher: `, and so is every
  line of /outputs/requirements.log;
- no requirement reaches the installer as an option, nor a file outside the bundle;
- the run ends within a bound (of CPU time; libFuzzer's -timeout bounds the wall clock),
  and leaves no file open.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tarfile
import tempfile
import time
import warnings
import zipfile
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT)]

with atheris.instrument_imports(include=["launcher"]):
    from launcher import beneath, main
    from launcher.errors import EX_BUNDLE, EX_CANTCREATE, EX_CONFIG, EX_INSTALL, EX_NOTFOUND, EX_USAGE

CODES = {EX_USAGE, EX_BUNDLE, EX_INSTALL, EX_CANTCREATE, EX_CONFIG, EX_NOTFOUND}
# The bound on one run's CPU time, far above what one takes (a deep directory bundle, the
# slowest, takes 2 to 3 s); CPU time, so that a busy machine does not trip it. A run that
# blocks (on a FIFO, say) uses none: libFuzzer's -timeout (wall clock) ends that one.
SECONDS = 10
PRIVATE_TMP = os.environ.get("FUZZ_PRIVATE_TMP") == "1"

# A scratch directory: the cage (canaries beside the root), /outputs, the bundle.
SCRATCH = Path(tempfile.mkdtemp(prefix="fuzz-launcher-", dir="/tmp"))
CAGE = SCRATCH / "cage"
WORK = CAGE / "root"
MADE_MARK = CAGE / ".root.launcher-made"
OUTPUTS = SCRATCH / "outputs"
CODE_FILE = SCRATCH / "code"
CODE_DIR = SCRATCH / "codedir"
BASE_ENV = SCRATCH / "venv"
CANARIES = {
    CAGE / "canary.txt": b"beside the root\n",
    CAGE / "victim" / "keep.txt": b"a folder beside the root\n",
    OUTPUTS / "earlier.txt": b"an earlier step's result\n",
    SCRATCH / "keep.txt": b"above the root\n",
}
BEFORE = {place: set(os.listdir(place)) | {SCRATCH.name} for place in ("/", "/tmp")}

# --- What inputs are made of ---------------------------------------------------------

SEGMENTS = [
    "main.py", "a", "b", "d", "s", "u", "sub", "root", "victim", "outputs", ".", "..", "",
    "pyvenv.cfg", ".venv", "venv", "__pycache__", "__MACOSX", "._a", ".DS_Store",
    "caf\u00e9.txt", "cafe\u0301.txt", "x\nlauncher: forged", "\x1b[31mred", "abc\u202edef", "tab\there",
    "x" * 120, "requirements", "requirements.txt", "pyproject.toml", "setup.py", "setup.cfg", "uv.lock",
    "poetry.lock", "Pipfile", "Pipfile.lock", "pylock.toml", "pylock.dev.toml", "environment.yml", "pdm.lock",
    "script.py", "services", "etl", "api",
]  # fmt: skip
LINK_TARGETS = [
    ".", "..", "d/..", "s/root/d/../..", "/", "/tmp", "/etc/passwd", "a", "a/b", "../x", "sub/.",
    "main.py", "requirements.txt", "d/../..", "x/" * 50 + "..", "pyvenv.cfg", "",
]  # fmt: skip
MANIFESTS = [
    "pyproject.toml", "requirements.txt", "uv.lock", "poetry.lock", "Pipfile", "Pipfile.lock",
    "pylock.toml", "setup.py", "setup.cfg", "main.py", "script.py", "requirements/dev.txt",
    "services/etl/requirements.txt", "sub/uv.lock", "sub/pyproject.toml", "environment.yml",
]  # fmt: skip
REQUIREMENT_WORDS = [
    "greeting", "greeting==1.0.0", "--help", "-e .", "-r other.txt", "-r ../../etc/passwd", "-c c.txt",
    "--index-url http://u:p@idx.example/simple", "-i http://idx.example/simple", "--extra-index-url http://x/s",
    "numpy<2", "x\nlauncher: forged", "pkg @ file:///etc", "  ", "# a comment", "./local", "greeting ; os_name == 'nt'",
]  # fmt: skip
TOML_KEYS = [
    "project", "build-system", "tool", "uv", "poetry", "dependencies", "optional-dependencies", "dynamic",
    "dependency-groups", "include-group", "package", "package-mode", "name", "version", "requires-python",
    "extras", "group", "packages", "dev-packages", "source", "requires", "metadata", "lock-version",
]  # fmt: skip
SETTINGS = {
    "LAUNCHER_REQUIREMENTS": ["none", "requirements.txt", "sub/uv.lock", "main.py", "../x", "/etc/passwd",
                              "pyproject.toml", "sub/pyproject.toml", "missing.txt", "d/../requirements.txt",
                              "pylock.toml"],
    "LAUNCHER_EXTRAS": ["plot", "a,b", "nope", "bad name", "-x"],
    "LAUNCHER_GROUPS": ["dev", "test", "g0", "nope", "packages", "a,,b"],
    "LAUNCHER_IGNORE_LOCK": ["1", "0", "maybe"],
    "LAUNCHER_INSTALLER": ["uv", "pip", "conda", "UV"],
    "LAUNCHER_MAX_BYTES": ["1", "64k", "1g", "1e5", "0", "-1"],
    "LAUNCHER_MAX_MEMBERS": ["1", "3", "64", "0", "x"],
    "LAUNCHER_LOCK_TIMEOUT": ["1", "300", "0", "1e30"],
    "LAUNCHER_INSTALL_TIMEOUT": ["5", "x", "604801"],
    "PIP_INDEX_URL": ["http://u:p@127.0.0.1:9/simple", "https://idx.example/simple?token=abc", "ftp://x", "not a url",
                      "http://h:port/", "https://t0k/en@h/s", "http://us er:pw@h/s"],
    "PIP_EXTRA_INDEX_URL": ["http://a/s http://b/s", "x"],
    "PIP_FIND_LINKS": ["/wheels", "rel", "http://u:pw@h/links"],
    "UV_FIND_LINKS": ["http://u:pw@h/links,/w", "bad url,"],
    "PIP_TRUSTED_HOST": ["a b", "a/b"],
    "PIP_NO_INDEX": ["1", "no", "perhaps"],
    "PIP_TIMEOUT": ["2.5", "0", "nan", "1e30", "inf"],
    "UV_HTTP_TIMEOUT": ["3", "2.5"],
    "PIP_RETRIES": ["0", "100000000000000000000", "-1"],
    "UV_HTTP_RETRIES": ["x", "5"],
    "UV_LINK_MODE": ["copy", "bogus"],
    "PIP_CERT": ["/ca.pem", "rel.pem"],
    "UV_CACHE_DIR": ["/cache", "cache"],
    "MY_TOKEN": ["s3cret-token", "ab", "1", "two\nlines"],
}  # fmt: skip


def pick(fdp: atheris.FuzzedDataProvider, items: list) -> object:
    return items[fdp.ConsumeIntInRange(0, len(items) - 1)]


def name(fdp: atheris.FuzzedDataProvider) -> str:
    """A path of a few segments; now and then deep, or absolute. Deep ones are rare: each
    costs libarchive's secure extraction a look at every folder above it, so they would
    take most of the fuzzer's time."""
    if fdp.ConsumeIntInRange(0, 511) == 0:
        return "/".join(["d"] * fdp.ConsumeIntInRange(1, 2100)) + "/x"
    parts = [pick(fdp, SEGMENTS) for _ in range(fdp.ConsumeIntInRange(1, 4))]
    path = "/".join(parts) or "a"
    return "/" + path if fdp.ConsumeIntInRange(0, 31) == 31 else path


def toml_value(fdp: atheris.FuzzedDataProvider, depth: int = 0) -> str:
    """A TOML value: strings shaped like requirements, numbers, booleans, arrays, inline tables."""
    kind = fdp.ConsumeIntInRange(0, 6)
    if kind == 0 or depth > 3:
        return (
            '"' + str(pick(fdp, REQUIREMENT_WORDS)).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
        )
    if kind == 1:
        return str(fdp.ConsumeIntInRange(-5, 5))
    if kind == 2:
        return pick(fdp, ["true", "false"])
    if kind == 3:
        return "[" + ", ".join(toml_value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3))) + "]"
    if kind == 4:
        return (
            "{"
            + ", ".join(
                f'"{pick(fdp, TOML_KEYS)}" = {toml_value(fdp, depth + 1)}' for _ in range(fdp.ConsumeIntInRange(0, 2))
            )
            + "}"
        )
    if kind == 5:
        n = fdp.ConsumeIntInRange(1, 3000)
        return "[" * n + "]" * n  # nested past what a parser's stack allows
    return '{ include-group = "g' + str(fdp.ConsumeIntInRange(0, 3)) + '" }'


def toml_document(fdp: atheris.FuzzedDataProvider) -> str:
    """A document shaped like pyproject.toml, a lock or a Pipfile: tables and keys the launcher reads."""
    lines = []
    for _ in range(fdp.ConsumeIntInRange(0, 6)):
        if fdp.ConsumeBool():
            table = ".".join(pick(fdp, TOML_KEYS) for _ in range(fdp.ConsumeIntInRange(1, 2)))
            lines.append(f"[{table}]")
        lines.append(f'"{pick(fdp, TOML_KEYS)}" = {toml_value(fdp)}')
    if fdp.ConsumeIntInRange(0, 7) == 0:  # a chain of included groups
        count = fdp.ConsumeIntInRange(1, 1500)
        lines.append("[dependency-groups]")
        lines += [f'g{i} = [{{ include-group = "g{i + 1}" }}]' for i in range(count)]
        lines.append(f'g{count} = ["greeting"]' if fdp.ConsumeBool() else f'g{count} = [{{ include-group = "g0" }}]')
    text = "\n".join(lines) + "\n"
    return text[: fdp.ConsumeIntInRange(0, len(text))] if fdp.ConsumeIntInRange(0, 7) == 0 else text


def document(fdp: atheris.FuzzedDataProvider, path: str) -> bytes:
    """What a file holds: a manifest's shape for a manifest's name, else any bytes."""
    base = path.rsplit("/", 1)[-1]
    if base.endswith(".py"):
        body = toml_document(fdp)
        block = "".join(f"# {line}\n" if line else "#\n" for line in body.splitlines())
        text = f"# /// script\n{block}# ///\n" * fdp.ConsumeIntInRange(0, 2)
        if fdp.ConsumeIntInRange(0, 31) == 0:
            text += "# /// a\n" * fdp.ConsumeIntInRange(1, 20000)  # what made detection quadratic
        return (text + "print('job')\n").encode()
    if base.endswith(".txt"):
        return "\n".join(str(pick(fdp, REQUIREMENT_WORDS)) for _ in range(fdp.ConsumeIntInRange(0, 4))).encode()
    if base.endswith((".toml", ".lock", "Pipfile", ".cfg", ".yml")):
        return toml_document(fdp).encode()
    return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64))


# --- Bundles, member by member -----------------------------------------------------


def members(fdp: atheris.FuzzedDataProvider) -> list[tuple[str, str, object]]:
    """(kind, name, data or link target) for each member: file, dir, symlink, hardlink, fifo."""
    found = []
    for _ in range(fdp.ConsumeIntInRange(0, 14)):
        kind = pick(fdp, ["file", "file", "file", "dir", "symlink", "symlink", "hardlink", "fifo"])
        path = pick(fdp, MANIFESTS) if kind == "file" and fdp.ConsumeBool() else name(fdp)
        if kind == "file":
            found.append((kind, path, document(fdp, path)))
        elif kind in ("symlink", "hardlink"):
            found.append((kind, path, pick(fdp, LINK_TARGETS) if fdp.ConsumeBool() else name(fdp)))
        else:
            found.append((kind, path, None))
    return found


def tar_bundle(items: list[tuple[str, str, object]], fmt: int) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt, errors="surrogateescape") as archive:
        for kind, path, data in items:
            info = tarfile.TarInfo(path)
            info.mode = 0o755 if kind == "dir" else 0o644
            info.type = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
                         "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE}[kind]  # fmt: skip
            if kind in ("symlink", "hardlink"):
                info.linkname = str(data)
            body = data if isinstance(data, bytes) else b""
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    return out.getvalue()


def zip_bundle(items: list[tuple[str, str, object]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for kind, path, data in items:
            info = zipfile.ZipInfo(path + ("/" if kind == "dir" else ""), date_time=(2020, 1, 1, 0, 0, 0))
            info.create_system = 3
            mode = {"file": 0o100644, "dir": 0o040755, "symlink": 0o120777}.get(kind)
            if mode is None:
                continue
            info.external_attr = mode << 16
            archive.writestr(info, data if isinstance(data, bytes) else str(data or "").encode())
    return out.getvalue()


def directory_bundle(items: list[tuple[str, str, object]]) -> None:
    """The members as a folder: files and folders first, links last, and nothing made through a
    link or outside the folder (the names are the fuzzer's, the folder is this machine's)."""
    CODE_DIR.mkdir()
    fd = os.open(CODE_DIR, beneath.DIRECTORY)
    try:
        for kind, path, data in sorted(items, key=lambda item: item[0] == "symlink"):
            parts = [part for part in path.split("/") if part not in ("", ".")]
            if not parts or ".." in parts or path.startswith("/") or len(path) > 3000:
                continue
            parent = beneath.open_parent(fd, "/".join(parts).encode())
            if parent is None:
                make_directories(fd, parts[:-1])
                parent = beneath.open_parent(fd, "/".join(parts).encode())
            if parent is None:
                continue
            where, last = parent
            try:
                if kind == "file":
                    file = os.open(last, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=where)
                    os.write(file, data if isinstance(data, bytes) else b"")
                    os.close(file)
                elif kind == "dir":
                    os.mkdir(last, dir_fd=where)
                elif kind == "symlink":
                    os.symlink(str(data), last, dir_fd=where)
                elif kind == "fifo":
                    os.mkfifo(last, dir_fd=where)
            except OSError:
                pass
            finally:
                os.close(where)
    finally:
        os.close(fd)


def make_directories(fd: int, parts: list[str]) -> None:
    here = os.dup(fd)
    try:
        for part in parts:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, dir_fd=here)
            inner = os.open(part, beneath.DIRECTORY, dir_fd=here)
            os.close(here)
            here = inner
    except OSError:
        pass
    finally:
        os.close(here)


def job(data: bytes) -> tuple[list[str], dict[str, str]]:
    """Write the input's bundle into place; return the launcher's argv and environment."""
    fdp = atheris.FuzzedDataProvider(data)
    environ = {
        "PATH": "/usr/bin:/bin",
        "LAUNCHER_CODE": str(CODE_FILE),
        "LAUNCHER_OUTPUTS": str(OUTPUTS),
        "LAUNCHER_WORKDIR": str(WORK),
        "LAUNCHER_JOB_ENV": str(SCRATCH / "job-env"),
        "VIRTUAL_ENV": str(BASE_ENV),
        "LAUNCHER_MAX_BYTES": "64k",
        "LAUNCHER_MAX_MEMBERS": "4096",
    }
    for setting, values in SETTINGS.items():
        if fdp.ConsumeIntInRange(0, 9) == 0:
            environ[setting] = str(pick(fdp, values))
    argv = pick(fdp, [["--", "python", "main.py"], ["--"], [], ["--", "echo", "--", "x y"], ["--", "", "x"]])
    items = members(fdp)
    shape = fdp.ConsumeIntInRange(0, 6)
    if shape == 0:
        return argv, environ  # no bundle at all
    if shape == 6:
        os.mkfifo(CODE_FILE)  # a bundle that would never end
        return argv, environ
    if shape == 1:
        directory_bundle(items)
        environ["LAUNCHER_CODE"] = str(CODE_DIR)
        return argv, environ
    if shape == 2:
        body = zip_bundle(items)
    else:
        import gzip

        body = tar_bundle(items, tarfile.PAX_FORMAT if shape == 3 else tarfile.GNU_FORMAT)
        body = gzip.compress(body, compresslevel=1, mtime=0) if shape == 4 else body
    CODE_FILE.write_bytes(body)
    return argv, environ


# --- The run and its invariants ----------------------------------------------------


def installer(plan: object, settings: object, log: object) -> Path:
    """Stands for the install stage: the plan may hold no option and no file outside the bundle."""
    root = os.path.realpath(WORK)
    directory = os.path.realpath(plan.directory)
    if not (directory == root or directory.startswith(root + os.sep)):
        raise AssertionError(f"the plan runs in {directory}, outside the root")
    args = list(plan.args)
    while args:
        arg = args.pop(0)
        if arg == "-r" and args:
            target = os.path.realpath(os.path.join(directory, args.pop(0)))
            if not target.startswith(root + os.sep) or not os.path.isfile(target):
                raise AssertionError(f"the plan installs {target}, which is not a file in the bundle")
        elif arg.startswith("-") or not arg.isprintable():
            raise AssertionError(f"the plan gives the installer {arg!r}, an option or not one line")
    return settings.base_env


def snapshot() -> dict[Path, tuple[bytes, int]]:
    return {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in CANARIES}


def lines_are_printable(text: str, where: str, prefix: str = "") -> None:
    for line in text.splitlines():
        if not line.isprintable() or not line.startswith(prefix):
            raise AssertionError(f"{where} holds a line that is not one printable {prefix!r} line: {line!r}")


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def check(outcome: object, stderr: str, canaries: dict, seconds: float, files: int) -> None:
    if isinstance(outcome, int) and outcome not in CODES:
        raise AssertionError(f"exit {outcome}, which the contract does not list for the launcher: {stderr}")
    if not isinstance(outcome, int):
        workdir = os.path.realpath(outcome.workdir)
        root = os.path.realpath(WORK)
        if not (workdir == root or workdir.startswith(root + os.sep)):
            raise AssertionError(f"the job would run in {workdir}, outside the root")
    if snapshot() != canaries:
        raise AssertionError("a canary outside the root changed")
    allowed = {"canary.txt", "victim", "root", ".root.launcher-made", "root-home"}
    if not set(os.listdir(CAGE)) <= allowed:
        raise AssertionError(f"written beside the root: {set(os.listdir(CAGE)) - allowed}")
    if not set(os.listdir(OUTPUTS)) <= {"earlier.txt", "requirements.log"}:
        raise AssertionError(f"written in /outputs: {os.listdir(OUTPUTS)}")
    for place, before in BEFORE.items() if PRIVATE_TMP else ():
        if not set(os.listdir(place)) <= before:
            raise AssertionError(f"written outside the root, in {place}: {set(os.listdir(place)) - before}")
    lines_are_printable(stderr, "stderr", "launcher: ")
    log = OUTPUTS / "requirements.log"
    if log.exists():
        lines_are_printable(log.read_text(encoding="utf-8", errors="strict"), "requirements.log")
    if seconds > SECONDS:
        raise AssertionError(f"the run took {seconds:.1f} s of CPU time")
    if open_files() != files:
        raise AssertionError(f"{open_files() - files} files left open")


def clean() -> None:
    for path in (WORK, CODE_DIR, CODE_FILE, MADE_MARK, CAGE / "root-home", OUTPUTS / "requirements.log"):
        if os.path.lexists(path):
            parent = os.open(path.parent, beneath.DIRECTORY)
            try:
                beneath.remove_tree(parent, path.name)
            finally:
                os.close(parent)


def one_input(data: bytes) -> None:
    try:
        argv, environ = job(data)
        canaries = snapshot()
        files = open_files()
        stderr = io.StringIO()
        started = time.process_time()
        with contextlib.redirect_stderr(stderr):
            outcome = main.prepare(argv, environ, installer)
        check(outcome, stderr.getvalue(), canaries, time.process_time() - started, files)
    finally:
        clean()


def setup() -> None:
    warnings.simplefilter("ignore")  # zipfile's about the duplicate names the inputs make on purpose
    for path, content in CANARIES.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    (BASE_ENV / "bin").mkdir(parents=True)


def main_() -> None:
    args = sys.argv[1:]
    setup()
    try:
        atheris.Setup([sys.argv[0], *args], one_input)
        atheris.Fuzz()
    finally:
        clean()
        for path in sorted(SCRATCH.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink()
        SCRATCH.rmdir()


if __name__ == "__main__":
    main_()
