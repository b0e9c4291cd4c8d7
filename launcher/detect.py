"""Stage 3: how the bundle declares its requirements (CONTRACT.md, L3).

Every marker file at the top of the working directory is collected first; then the
precedence below decides, and the plan says what was used, why, and what was not.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import EX_CONFIG, LauncherError
from .settings import NO_INSTALL, REQUIREMENTS_SETTING, Settings

# Detection, first match wins: the files that select each method, named as CONTRACT.md's
# table in L3 names them (scripts/check-contract compares the two).
DETECTION_ORDER = (
    # a lock, installed exactly: uv.lock or poetry.lock (with pyproject.toml), Pipfile.lock
    # (with Pipfile), or pylock.toml (PEP 751)
    ("uv.lock", "poetry.lock", "Pipfile.lock", "pylock.toml", "pylock.NAME.toml"),
    ("requirements.txt",),
    # one that declares a project: the project, or only its dependencies when it is an
    # application (no [build-system] nor setup.py, or [tool.uv] package = false, or Poetry's
    # package-mode = false); one that only configures tools does not count
    ("pyproject.toml",),
    ("setup.py", "setup.cfg"),  # the project
    (".py",),  # the one .py file with PEP 723 inline script metadata
)
UV_LOCK = "uv.lock"
# Locks read by the tool made for them, and the manifest each locks.
LOCKS = {UV_LOCK: "pyproject.toml", "poetry.lock": "pyproject.toml", "Pipfile.lock": "Pipfile"}
PYLOCK = re.compile(r"pylock(\.[A-Za-z0-9_-]+)?\.toml")
REQUIREMENTS_TXT = "requirements.txt"
PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg")
# Files of package managers that are not supported (L3.6), and the manager each belongs to.
UNSUPPORTED_FILES = {
    "pdm.lock": "PDM",
    "environment.yml": "conda",
    "environment.yaml": "conda",
    "conda.yml": "conda",
    "conda.yaml": "conda",
    "pixi.toml": "pixi",
}
SUPPORTED = (
    "uv.lock, poetry.lock, Pipfile.lock, pylock.toml, requirements.txt, pyproject.toml, setup.py or setup.cfg, "
    "or one .py file with PEP 723 inline metadata"
)
# Where requirement files hide when none is at the top (L3.11).
NESTED_REQUIREMENTS = ("requirements/*.txt", "requirements-*.txt", "requirements_*.txt", "*/requirements.txt")
PEP723_BLOCK = re.compile(r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$")


class Plan:
    """How to install a bundle's requirements.

    kind says which installer command: "requirements" (args for `pip install`),
    "project" (args name the project), "uv.lock" or "pylock" (a lock, installed exactly),
    or "nothing" (reason says why).
    """

    def __init__(
        self,
        kind: str,
        method: str,
        reason: str,
        args: list[str] | None = None,
        unused: list[str] | None = None,
        setup_py_shim: Path | None = None,
    ) -> None:
        self.kind = kind
        self.method = method
        self.reason = reason
        self.args = args or []
        self.unused = unused or []  # marker files found and not used, for the log and the summary
        # Where a setup.cfg-only project needs a setup.py for PEP 517 front ends to build it.
        self.setup_py_shim = setup_py_shim

    def __repr__(self) -> str:
        return f"Plan({self.kind!r}, {self.method!r}, {self.reason!r}, {self.args!r}, unused={self.unused!r})"


def nothing(reason: str) -> Plan:
    return Plan("nothing", "nothing", reason)


def plan(workdir: Path, settings: Settings) -> Plan:
    """Decide how to install the bundle's requirements."""
    if settings.requirements == NO_INSTALL:
        return nothing(f"{REQUIREMENTS_SETTING}=none")
    if settings.requirements is not None:
        return requested_plan(workdir, settings.requirements, settings)
    return detected_plan(workdir, settings)


# --- Reading manifests ----------------------------------------------------------------


def load_toml(text: str) -> dict[str, object]:
    """Parse TOML; a ValueError (tomllib.TOMLDecodeError) says where it is invalid."""
    import tomllib

    return tomllib.loads(text)


def read_pyproject(path: Path) -> dict[str, object]:
    try:
        return load_toml(path.read_text(encoding="utf-8"))
    except ValueError as error:  # not TOML, or not UTF-8
        raise LauncherError(EX_CONFIG, f"{path.name} is not valid TOML ({error}); fix it") from error


def normalized(name: str) -> str:
    """A name of an extra or a group as PEP 685 and PEP 735 compare them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def tool_table(pyproject: dict[str, object], name: str) -> dict[str, object]:
    tool = pyproject.get("tool")
    table = tool.get(name) if isinstance(tool, dict) else None
    return table if isinstance(table, dict) else {}


def declares_project(pyproject: dict[str, object]) -> bool:
    """Whether pyproject.toml declares a project at all (and is not only the settings of tools)."""
    return "build-system" in pyproject or "project" in pyproject or bool(tool_table(pyproject, "poetry"))


def is_application(pyproject: dict[str, object], setup_script: bool) -> bool:
    """Whether the project is meant to run, not to be built: no [build-system] (nor a setup.py or
    setup.cfg beside it, which setuptools would build), or its tool says so."""
    return (
        ("build-system" not in pyproject and not setup_script)
        or tool_table(pyproject, "uv").get("package") is False
        or tool_table(pyproject, "poetry").get("package-mode") is False
    )


def group_requirements(groups: dict[str, object], name: str, seen: tuple[str, ...] = ()) -> list[str]:
    """The requirements of a PEP 735 dependency group, its included groups resolved."""
    table = {normalized(key): value for key, value in groups.items()}
    key = normalized(name)
    if key not in table:
        declared = ", ".join(sorted(groups)) or "none"
        raise LauncherError(
            EX_CONFIG,
            f"LAUNCHER_GROUPS names {name!r}, which pyproject.toml does not declare (it declares: {declared})",
        )
    if key in seen:
        raise LauncherError(EX_CONFIG, f"pyproject.toml: dependency group {name!r} includes itself")
    found: list[str] = []
    for item in table[key] if isinstance(table[key], list) else []:
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict) and isinstance(item.get("include-group"), str):
            found += group_requirements(groups, item["include-group"], (*seen, key))
    return found


def declared_dependencies(pyproject: dict[str, object], settings: Settings) -> list[str]:
    """What an application's pyproject.toml asks for: [project] dependencies, the extras and
    the dependency groups that the settings name. Read as written, never by building."""
    project = pyproject.get("project")
    if not isinstance(project, dict):
        raise LauncherError(
            EX_CONFIG,
            "pyproject.toml has no [build-system] and no [project] table, so nothing says what to install; "
            "add [project] dependencies, or a lock",
        )
    if "dependencies" in project.get("dynamic", []):
        raise LauncherError(
            EX_CONFIG,
            "pyproject.toml declares its dependencies dynamic but no [build-system] to compute them; "
            "add a [build-system] table, or list the dependencies",
        )
    found = list(project.get("dependencies", []))
    optional = {normalized(key): value for key, value in project.get("optional-dependencies", {}).items()}
    for extra in settings.extras:
        if normalized(extra) not in optional:
            declared = ", ".join(sorted(project.get("optional-dependencies", {}))) or "none"
            raise LauncherError(
                EX_CONFIG,
                f"LAUNCHER_EXTRAS names {extra!r}, which pyproject.toml does not declare (it declares: {declared})",
            )
        found += optional[normalized(extra)]
    groups = pyproject.get("dependency-groups", {})
    for group in settings.groups:
        found += group_requirements(groups if isinstance(groups, dict) else {}, group)
    return found


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


# --- Plans, one per method ------------------------------------------------------------


def script_plan(script: Path, reason: str) -> Plan:
    metadata = inline_metadata(script)
    if metadata is None:
        raise LauncherError(EX_CONFIG, f"{script.name} has no '# /// script' block (PEP 723)")
    dependencies = metadata.get("dependencies", [])
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        raise LauncherError(
            EX_CONFIG, f"{script.name}: 'dependencies' in the '# /// script' block must be a list of strings"
        )
    if not dependencies:
        return nothing(f"{script.name} declares no dependencies in its inline metadata")
    return Plan("requirements", f"inline script metadata of {script.name}", reason, list(dependencies))


def project_plan(directory: Path, target: str, name: str, reason: str, settings: Settings) -> Plan:
    """Install the project in directory (given to the installer as target), declared by the file name;
    or, for an application, only what its pyproject.toml declares."""
    where = "" if target == "." else f" at {target}"
    pyproject_path = directory / "pyproject.toml"
    pyproject = read_pyproject(pyproject_path) if pyproject_path.is_file() else None
    setup_script = any((directory / other).is_file() for other in ("setup.py", "setup.cfg"))
    if name == "pyproject.toml" and pyproject is not None and is_application(pyproject, setup_script):
        dependencies = declared_dependencies(pyproject, settings)
        method = f"dependencies of the application in pyproject.toml{where}"
        if not dependencies:
            return nothing(f"pyproject.toml{where} declares no dependencies")
        return Plan("requirements", method, f"{reason}; an application, not built", dependencies)
    declared_elsewhere = any(os.path.lexists(directory / other) for other in ("pyproject.toml", "setup.py"))
    shim = directory / "setup.py" if name == "setup.cfg" and not declared_elsewhere else None
    extras = f"[{','.join(settings.extras)}]" if settings.extras else ""
    table = pyproject.get("dependency-groups") if pyproject else None
    groups = [
        requirement
        for group in settings.groups
        for requirement in group_requirements(table if isinstance(table, dict) else {}, group)
    ]
    return Plan("project", f"project ({name}){where}", reason, [target + extras, *groups], setup_py_shim=shim)


def lock_plan(directory: Path, lock: str, reason: str, unused: list[str]) -> Plan:
    if lock in LOCKS:
        manifest = directory / LOCKS[lock]
        if not manifest.is_file():
            raise LauncherError(
                EX_CONFIG, f"found {lock} without the {manifest.name} it locks; bundle both, or leave the lock out"
            )
        project = []
        if manifest.name == "pyproject.toml":
            setup_script = any((directory / other).is_file() for other in ("setup.py", "setup.cfg"))
            # The lock installs the dependencies; a project that is built is installed on top, as uv sync does.
            project = [] if is_application(read_pyproject(manifest), setup_script) else ["."]
        return Plan(lock, f"{lock} (the locked versions)", reason, project, unused=unused)
    return Plan("pylock", f"{lock} (the locked versions)", reason, ["-r", lock], unused=unused)


def requested_plan(workdir: Path, setting: str, settings: Settings) -> Plan:
    """The plan for the file named by LAUNCHER_REQUIREMENTS, which must be inside the bundle."""
    path = workdir / setting
    root = os.path.realpath(workdir)
    real = os.path.realpath(path)
    if not (real == root or real.startswith(root + os.sep)):
        raise LauncherError(
            EX_CONFIG, f"{REQUIREMENTS_SETTING}={setting} leads outside the bundle; name a file inside it"
        )
    if not path.is_file():
        raise LauncherError(EX_CONFIG, f"{REQUIREMENTS_SETTING}={setting}: no such file in the bundle")
    reason = f"named by {REQUIREMENTS_SETTING}"
    if path.suffix == ".py":
        return script_plan(path, reason)
    if path.name in LOCKS or PYLOCK.fullmatch(path.name):
        return lock_plan(path.parent, path.name if path.name in LOCKS else setting, reason, [])
    if path.name in PROJECT_FILES:
        return project_plan(path.parent, str(path.parent), path.name, reason, settings)
    return Plan("requirements", setting, reason, ["-r", setting])


def detected_plan(workdir: Path, settings: Settings) -> Plan:
    present = {entry.name for entry in workdir.iterdir()}
    locks = sorted(name for name in present if name in LOCKS or PYLOCK.fullmatch(name))
    manifests = sorted(present & {REQUIREMENTS_TXT, "Pipfile", *PROJECT_FILES, *UNSUPPORTED_FILES})
    if locks and settings.ignore_lock:
        manifests = sorted({*manifests, *locks})
        locks = []
    if len(locks) > 1:
        raise LauncherError(
            EX_CONFIG,
            f"found several locks ({', '.join(locks)}); keep one in the bundle, or name one with "
            f"{REQUIREMENTS_SETTING}=FILE",
        )
    if locks:
        unused = [name for name in manifests if name != LOCKS.get(locks[0])]
        note = f"; not used: {', '.join(unused)} (a lock wins)" if unused else ""
        return lock_plan(workdir, locks[0], f"found {locks[0]}{note}", unused)
    ignored_locks = " (LAUNCHER_IGNORE_LOCK is set)" if settings.ignore_lock and present & LOCKS.keys() else ""
    if REQUIREMENTS_TXT in present:
        unused = [name for name in manifests if name != REQUIREMENTS_TXT]
        note = f"; not used: {', '.join(unused)} (requirements.txt wins){ignored_locks}" if unused else ""
        return Plan("requirements", REQUIREMENTS_TXT, f"found {REQUIREMENTS_TXT}{note}", ["-r", REQUIREMENTS_TXT])
    if "pyproject.toml" in present and not declares_project(read_pyproject(workdir / "pyproject.toml")):
        present.discard("pyproject.toml")  # only the settings of tools (ruff, black, pytest)
    for name in PROJECT_FILES:
        if name in present:
            unused = [other for other in manifests if other != name and other not in PROJECT_FILES]
            note = f"; not used: {', '.join(unused)}{ignored_locks}" if unused else ""
            found = project_plan(workdir, ".", name, f"found {name}{note}", settings)
            found.unused = unused
            return found
    scripts = sorted(p for p in workdir.glob("*.py") if p.is_file() and inline_metadata(p) is not None)
    if len(scripts) > 1:
        names = ", ".join(p.name for p in scripts)
        raise LauncherError(
            EX_CONFIG, f"several scripts carry inline metadata ({names}); name one with {REQUIREMENTS_SETTING}=FILE"
        )
    if scripts:
        return script_plan(scripts[0], f"found inline script metadata in {scripts[0].name}")
    if "Pipfile" in present:
        raise LauncherError(
            EX_CONFIG, "found Pipfile without Pipfile.lock; run `pipenv lock` and bundle the lock with it"
        )
    unsupported = sorted(present & UNSUPPORTED_FILES.keys())
    if unsupported:
        found = ", ".join(f"{name} ({UNSUPPORTED_FILES[name]})" for name in unsupported)
        raise LauncherError(EX_CONFIG, f"found {found}, which is not supported; declare requirements with {SUPPORTED}")
    nested = sorted({str(p.relative_to(workdir)) for pattern in NESTED_REQUIREMENTS for p in workdir.glob(pattern)})
    if nested:
        return nothing(
            f"no requirements file at the top of the bundle; found {', '.join(nested[:5])}: "
            f"name one with {REQUIREMENTS_SETTING}=FILE to install it"
        )
    return nothing("no requirements file found")
