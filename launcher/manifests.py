"""Reading what a bundle declares, checked as it is read (CONTRACT.md, L3).

pyproject.toml, a Pipfile, a pylock.toml and PEP 723 inline script metadata are TOML,
read with tomllib. Whatever a document holds (values of the wrong type, tables nested
too deeply, a chain of included groups, a dependency spelled like an option), reading
it either gives the values the launcher needs or stops with exit 78 and one line that
names the file and the key: never a crash, and nothing from a manifest ever reaches an
installer as an option.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

from .errors import EX_CONFIG, LauncherError
from .locks import Kind, Lock
from .log import quoted, shown

# A manifest larger than this is not one a tool wrote: refused before it is parsed.
MAX_MANIFEST = 4 << 20
# A requirement starts with a distribution name (PEP 508), never with `-` or `.`.
REQUIREMENT_START = re.compile(r"[A-Za-z0-9]")
# PEP 723: `# /// TYPE`, comment lines, `# ///`.
BLOCK_START = re.compile(r"# /// (?P<type>[a-zA-Z0-9-]+)")
BLOCK_END = "# ///"
# Tables of a Pipfile that are not categories of packages.
PIPFILE_SETTINGS = frozenset({"source", "requires", "pipenv", "scripts"})


def refused(where: str, problem: str) -> LauncherError:
    return LauncherError(EX_CONFIG, f"{where} {problem}")


def load_toml(text: str, where: str) -> dict[str, object]:
    import tomllib

    try:
        return tomllib.loads(text)
    except ValueError as error:  # tomllib.TOMLDecodeError
        raise refused(where, f"is not valid TOML ({error}); fix it") from error
    except RecursionError as error:
        raise refused(where, "is not valid TOML: its tables or arrays are nested too deeply; fix it") from error


def read_text(path: Path, where: str) -> str:
    """A manifest's text: a regular file (or a link to one) in UTF-8, of a sensible size."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise refused(where, "is not a regular file; a manifest must be a file")
        if info.st_size > MAX_MANIFEST:
            raise refused(
                where, f"is {info.st_size} bytes, more than a manifest holds ({MAX_MANIFEST}); is it the right file?"
            )
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise refused(where, f"is not UTF-8 text ({error.reason} at byte {error.start}); save it as UTF-8") from error
    except OSError as error:
        raise refused(where, f"cannot be read ({error.strerror})") from error


def read_toml(path: Path, where: str | None = None) -> dict[str, object]:
    where = where or path.name
    return load_toml(read_text(path, where), where)


# --- Typed access -------------------------------------------------------------------


def table(document: dict[str, object], key: str, where: str) -> dict[str, object]:
    """document[key] as a table; {} when absent."""
    value = document.get(key, {})
    if not isinstance(value, dict):
        raise refused(where, f"{key} must be a table, not {type_name(value)}")
    return value


def tool(document: dict[str, object], name: str, where: str) -> dict[str, object]:
    return table(table(document, "tool", where), name, f"{where} [tool]")


def strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list):
        raise refused(where, f"must be a list of strings, not {type_name(value)}")
    for item in value:
        if not isinstance(item, str):
            raise refused(where, f"must be a list of strings; it holds {type_name(item)}")
    return value


def requirements(value: object, where: str) -> list[str]:
    """A list of PEP 508 requirements, each on one line and starting with a name: never an
    option (`--help`, `-e`), never two lines."""
    found = strings(value, where)
    for item in found:
        if not REQUIREMENT_START.match(item) or not item.isprintable():
            raise refused(where, f"holds {quoted(item)}, which is not a requirement; each starts with a package name")
    return found


def type_name(value: object) -> str:
    names = {str: "a string", list: "a list", dict: "a table", bool: "a boolean", int: "a number", float: "a number"}
    return names.get(type(value), "a date or time")  # what else TOML has


def normalized(name: str) -> str:
    """A name of an extra or a group as PEP 685 and PEP 735 compare them."""
    return re.sub(r"[-_.]+", "-", name).lower()


# --- pyproject.toml -----------------------------------------------------------------


class Pyproject:
    """The parts of a pyproject.toml that decide what is installed."""

    def __init__(self, document: dict[str, object], where: str = "pyproject.toml") -> None:
        self.where = where
        self.has_build_system = "build-system" in document
        table(document, "build-system", where)
        self.project = table(document, "project", where)
        self.has_project = "project" in document
        self.poetry = tool(document, "poetry", where)
        self.uv = tool(document, "uv", where)
        self.groups = table(document, "dependency-groups", where)

    @classmethod
    def read(cls, path: Path, where: str | None = None) -> Pyproject:
        return cls(read_toml(path, where), where or path.name)

    def declares_project(self) -> bool:
        """Whether it declares a project at all (and is not only the settings of tools)."""
        return self.has_build_system or self.has_project or bool(self.poetry)

    def is_application(self, setup_script: bool) -> bool:
        """Whether the project is meant to run, not to be built: no [build-system] (nor a setup.py
        or setup.cfg beside it, which setuptools would build), or its tool says so."""
        return (
            (not self.has_build_system and not setup_script)
            or self.uv.get("package") is False
            or self.poetry.get("package-mode") is False
        )

    def dynamic(self) -> list[str]:
        return strings(self.project.get("dynamic", []), f"{self.where} [project] dynamic")

    def dependencies(self) -> list[str]:
        return requirements(self.project.get("dependencies", []), f"{self.where} [project] dependencies")

    def optional(self) -> dict[str, list[str]]:
        where = f"{self.where} [project.optional-dependencies]"
        return {
            name: requirements(value, f"{where} {name}")
            for name, value in table(self.project, "optional-dependencies", f"{self.where} [project]").items()
        }

    def check_project(self) -> None:
        """What a build reads as written (dependencies and extras that are not dynamic) must be valid."""
        dynamic = self.dynamic()
        if "dependencies" not in dynamic:
            self.dependencies()
        if "optional-dependencies" not in dynamic:
            self.optional()

    def extras(self) -> set[str] | None:
        """The extras it declares; None when they are dynamic (only a build can tell)."""
        if "optional-dependencies" in self.dynamic():
            return None
        return set(self.optional()) | set(table(self.poetry, "extras", f"{self.where} [tool.poetry]"))

    def group_names(self) -> set[str]:
        return set(self.groups) | set(table(self.poetry, "group", f"{self.where} [tool.poetry]"))

    def group(self, name: str) -> list[str]:
        """The requirements of a PEP 735 dependency group, its included groups resolved in place."""
        groups = {normalized(key): (key, value) for key, value in self.groups.items()}
        found: list[str] = []
        stack: list[tuple[str, object]] = []  # (group, what is left of its items), the including groups below
        include = name
        while True:
            if include is not None:
                key = normalized(include)
                if key not in groups:
                    raise undeclared("LAUNCHER_GROUPS", include, self.groups, self.where)
                if any(key == open_key for open_key, _ in stack):
                    raise refused(self.where, f"dependency group {shown(groups[key][0])} includes itself")
                declared, items = groups[key]
                if not isinstance(items, list):
                    raise refused(
                        f"{self.where} [dependency-groups] {declared}", f"must be a list, not {type_name(items)}"
                    )
                stack.append((key, iter(items)))
                include = None
            if not stack:
                return found
            key, items = stack[-1]
            item = next(items, None)  # type: ignore[call-overload]
            if item is None:
                stack.pop()
            elif isinstance(item, dict) and isinstance(item.get("include-group"), str):
                include = item["include-group"]
            else:
                found += requirements([item], f"{self.where} [dependency-groups] {groups[key][0]}")


def undeclared(setting: str, name: str, declared: object, where: str) -> LauncherError:
    names = ", ".join(sorted(shown(str(item)) for item in declared)) or "none"
    return LauncherError(
        EX_CONFIG, f"{setting} names {shown(name)}, which {where} does not declare (it declares: {names})"
    )


def check_declared(setting: str, wanted: tuple[str, ...], declared: set[str] | None, where: str) -> None:
    """Every name of LAUNCHER_EXTRAS or LAUNCHER_GROUPS must be declared (None: cannot be told)."""
    if declared is None:
        return
    known = {normalized(name) for name in declared}
    for name in wanted:
        if normalized(name) not in known:
            raise undeclared(setting, name, declared, where)


# --- Pipfile and pylock.toml ----------------------------------------------------------


def pipfile_categories(path: Path, where: str) -> set[str]:
    """The categories of packages a Pipfile declares ([packages], [dev-packages], and its own)."""
    document = read_toml(path, where)
    return {name for name, value in document.items() if name not in PIPFILE_SETTINGS and isinstance(value, dict)}


def pylock_selection(path: Path, where: str) -> tuple[set[str], set[str]]:
    """The extras and dependency groups a PEP 751 lock offers."""
    document = read_toml(path, where)
    extras = strings(document.get("extras", []), f"{where} extras")
    groups = strings(document.get("dependency-groups", []), f"{where} dependency-groups")
    return set(extras), set(groups)


def check_lock(path: Path, lock: Lock, where: str) -> None:
    """A lock holds what its tool writes, at least in outline: one that does not is exit 78 before
    its tool reads it (and fails in ways that say nothing of the lock)."""
    kind = lock.kind
    redo = f"make it again with `{lock.relock}`"
    if kind == Kind.PIPFILE_LOCK:
        import json

        try:
            document = json.loads(read_text(path, where))
        except ValueError as error:
            raise refused(where, f"is not valid JSON ({error}); {redo}") from error
        if not isinstance(document, dict) or not isinstance(document.get("_meta"), dict):
            raise refused(where, f"is not a lock Pipenv wrote (no _meta table); {redo}")
        for category, packages in document.items():
            if not isinstance(packages, dict):
                raise refused(where, f"{category} must be a table, not {type_name(packages)}; {redo}")
        return
    document = read_toml(path, where)
    if kind == Kind.POETRY_LOCK and not isinstance(document.get("metadata"), dict):
        raise refused(where, f"is not a lock Poetry wrote (no [metadata] table); {redo}")
    packages = document.get("packages" if kind == Kind.PYLOCK else "package", [])
    if not isinstance(packages, list) or not all(isinstance(item, dict) for item in packages):
        raise refused(where, f"must list its packages as tables, not {type_name(packages)}; {redo}")
    if kind == Kind.PYLOCK:
        version = document.get("lock-version")
        if not isinstance(version, str) or not version.startswith("1."):
            raise refused(where, f"has lock-version {version!r}, not one of PEP 751's 1.x; {redo}")


# --- PEP 723 inline script metadata -------------------------------------------------


def metadata_blocks(text: str) -> list[tuple[str, str]]:
    """The (type, content) of each `# /// TYPE` block, as PEP 723's regular expression finds
    them, in one pass: a block runs from its opening line over the comment lines after it to
    the last `# ///` among them."""
    lines = text.split("\n")
    blocks: list[tuple[str, str]] = []
    index = 0
    while index < len(lines) - 1:  # an opening line ends with a newline
        start = BLOCK_START.fullmatch(lines[index])
        if not start:
            index += 1
            continue
        end = None
        after = index + 1
        while after < len(lines) and (lines[after] == "#" or lines[after].startswith("# ")):
            if lines[after] == BLOCK_END and after > index + 1:
                end = after
            if after == len(lines) - 1:  # the last line has no newline: only an end may stand there
                break
            after += 1
        if end is None:
            index = max(after, index + 1)  # no block opens anywhere in this run of comments
            continue
        raw = "".join(line + "\n" for line in lines[index + 1 : end])
        content = "".join(  # as PEP 723's reference code takes the comment marks off
            line[2:] if line.startswith("# ") else line[1:] for line in raw.splitlines(keepends=True)
        )
        blocks.append((start.group("type"), content))
        index = end + 1
    return blocks


def script_metadata(script: Path, where: str | None = None) -> dict[str, object] | None:
    """The PEP 723 `script` table of a .py file, or None when it has none."""
    where = where or script.name
    try:
        if not script.is_file() or script.stat().st_size > MAX_MANIFEST * 16:
            return None
        text = script.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    blocks = [content for kind, content in metadata_blocks(text) if kind == "script"]
    if not blocks:
        return None
    if len(blocks) > 1:
        raise refused(where, "has more than one '# /// script' block; keep one")
    return load_toml(blocks[0], f"{where}: the '# /// script' block")
