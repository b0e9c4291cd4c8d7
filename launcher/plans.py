"""The plan of an install, one per way a bundle declares its requirements (CONTRACT.md, L3):
what each method installs, read from its files by manifests.py and checked before anything
installs. detect.py decides which method a bundle uses.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

from .errors import EX_CONFIG, LauncherError
from .locks import BY_KIND, Kind, Lock, lock_named
from .log import shown
from .manifests import (
    Pyproject,
    check_declared,
    check_lock,
    normalized,
    pipfile_categories,
    pylock_selection,
    requirements,
    script_metadata,
)
from .settings import Settings


class Plan:
    """How to install a bundle's requirements.

    kind says what is installed: Kind.REQUIREMENTS (args for `pip install`: `-r FILE`, or
    requirements, each starting with a name), Kind.PROJECT (args name the project), a lock
    (lock is its record in locks.py, installed exactly; args name the project when it is
    built on top), or Kind.NOTHING (reason says why). directory is where the installer and
    the lock's tools run: the working directory, or the folder of a lock named by
    LAUNCHER_REQUIREMENTS.
    """

    def __init__(
        self,
        kind: Kind,
        method: str,
        reason: str,
        args: list[str] | None = None,
        unused: list[str] | None = None,
        setup_py_shim: Path | None = None,
        directory: Path | None = None,
    ) -> None:
        self.kind = kind
        self.lock: Lock | None = BY_KIND.get(kind)
        self.method = method
        self.reason = reason
        self.args = args or []
        self.unused = unused or []  # marker files found and not used, for the log and the summary
        # Where a setup.cfg-only project needs a setup.py for PEP 517 front ends to build it.
        self.setup_py_shim = setup_py_shim
        self.directory = directory

    def __repr__(self) -> str:
        return f"Plan({self.kind!r}, {self.method!r}, {self.reason!r}, {self.args!r}, unused={self.unused!r})"


def nothing(reason: str) -> Plan:
    return Plan(Kind.NOTHING, "nothing", reason)


def setup_script_in(directory: Path) -> bool:
    return any((directory / other).is_file() for other in ("setup.py", "setup.cfg"))


def label(folder: str, name: str) -> str:
    """A file in a folder of the bundle, as messages name it."""
    return posixpath.join(folder, name)


def script_plan(script: Path, reason: str) -> Plan:
    metadata = script_metadata(script)
    if metadata is None:
        raise LauncherError(EX_CONFIG, f"{shown(script.name)} has no '# /// script' block (PEP 723)")
    dependencies = requirements(
        metadata.get("dependencies", []), f"{script.name}: 'dependencies' of its '# /// script' block"
    )
    if not dependencies:
        return nothing(f"{shown(script.name)} declares no dependencies in its inline metadata")
    return Plan(Kind.REQUIREMENTS, f"inline script metadata of {shown(script.name)}", reason, list(dependencies))


def application_dependencies(pyproject: Pyproject, settings: Settings) -> list[str]:
    """What an application's pyproject.toml asks for: [project] dependencies, the extras and
    the dependency groups that the settings name. Read as written, never by building."""
    if not pyproject.has_project:
        raise LauncherError(
            EX_CONFIG,
            "pyproject.toml has no [build-system] and no [project] table, so nothing says what to install; "
            "add [project] dependencies, or a lock",
        )
    if "dependencies" in pyproject.dynamic():
        raise LauncherError(
            EX_CONFIG,
            "pyproject.toml declares its dependencies dynamic but no [build-system] to compute them; "
            "add a [build-system] table, or list the dependencies",
        )
    found = pyproject.dependencies()
    optional = pyproject.optional()
    check_declared("LAUNCHER_EXTRAS", settings.extras, set(optional), pyproject.where)
    by_name = {normalized(name): items for name, items in optional.items()}
    for extra in settings.extras:
        found += by_name[normalized(extra)]
    for group in settings.groups:
        found += pyproject.group(group)
    return found


def project_plan(directory: Path, target: str, name: str, reason: str, settings: Settings, folder: str = "") -> Plan:
    """Install the project in directory (given to the installer as target), declared by the file name;
    or, for an application, only what its pyproject.toml declares."""
    where = "" if target == "." else f" at {shown(target)}"
    pyproject_path = directory / "pyproject.toml"
    exists = os.path.lexists(pyproject_path)
    pyproject = Pyproject.read(pyproject_path, label(folder, "pyproject.toml")) if exists else None
    if name == "pyproject.toml" and pyproject is not None and pyproject.is_application(setup_script_in(directory)):
        dependencies = application_dependencies(pyproject, settings)
        method = f"dependencies of the application in pyproject.toml{where}"
        if not dependencies:
            return nothing(f"pyproject.toml{where} declares no dependencies")
        return Plan(Kind.REQUIREMENTS, method, f"{reason}; an application, not built", dependencies)
    declared_elsewhere = any(os.path.lexists(directory / other) for other in ("pyproject.toml", "setup.py"))
    shim = directory / "setup.py" if name == "setup.cfg" and not declared_elsewhere else None
    if pyproject is not None:
        pyproject.check_project()  # what the build would read, checked first
        check_declared("LAUNCHER_EXTRAS", settings.extras, pyproject.extras(), pyproject.where)
    elif settings.groups:
        raise LauncherError(
            EX_CONFIG,
            f"LAUNCHER_GROUPS names {shown(settings.groups[0])}, but the project has no pyproject.toml, "
            "where dependency groups are declared (PEP 735)",
        )
    extras = f"[{','.join(settings.extras)}]" if settings.extras else ""
    groups = [item for group in settings.groups for item in pyproject.group(group)] if pyproject else []
    return Plan(Kind.PROJECT, f"project ({name}){where}", reason, [target + extras, *groups], setup_py_shim=shim)


def check_lock_selection(directory: Path, name: str, lock: Lock, settings: Settings, folder: str) -> None:
    """The extras and groups the settings name must be ones the lock's project declares."""
    if not (settings.extras or settings.groups):
        return
    if lock.selection == "pipfile":
        if settings.extras:
            raise LauncherError(
                EX_CONFIG,
                "LAUNCHER_EXTRAS is set, but a Pipfile has no extras; name its categories with LAUNCHER_GROUPS",
            )
        pipfile = label(folder, "Pipfile")
        check_declared("LAUNCHER_GROUPS", settings.groups, pipfile_categories(directory / "Pipfile", pipfile), pipfile)
    elif lock.selection == "pyproject":
        pyproject = Pyproject.read(directory / "pyproject.toml", label(folder, "pyproject.toml"))
        check_declared("LAUNCHER_EXTRAS", settings.extras, pyproject.extras(), pyproject.where)
        check_declared("LAUNCHER_GROUPS", settings.groups, pyproject.group_names(), pyproject.where)
    else:
        extras, groups = pylock_selection(directory / name, label(folder, name))
        check_declared("LAUNCHER_EXTRAS", settings.extras, extras, label(folder, name))
        check_declared("LAUNCHER_GROUPS", settings.groups, groups, label(folder, name))


def lock_plan(directory: Path, path: str, reason: str, unused: list[str], settings: Settings) -> Plan:
    """The plan for the lock at path (as the bundle names it), in directory."""
    name = os.path.basename(path)
    lock = lock_named(name)
    assert lock is not None, name
    if not (directory / name).is_file():
        raise LauncherError(EX_CONFIG, f"{shown(path)} is not a file; a lock must be one")
    if lock.manifest and not (directory / lock.manifest).is_file():
        raise LauncherError(
            EX_CONFIG, f"found {name} without the {lock.manifest} it locks; bundle both, or leave the lock out"
        )
    folder = posixpath.dirname(path)
    check_lock(directory / name, lock, label(folder, name))
    check_lock_selection(directory, name, lock, settings, folder)
    method = f"{shown(path)} (the locked versions)"
    if not lock.exported:  # uv reads it as it is
        return Plan(lock.kind, method, reason, ["-r", name], unused=unused, directory=directory)
    project = []
    pyproject = (
        Pyproject.read(directory / "pyproject.toml", label(folder, "pyproject.toml"))
        if lock.manifest == "pyproject.toml"
        else None
    )
    if pyproject is not None and not pyproject.is_application(setup_script_in(directory)):
        project = ["."]  # the lock installs the dependencies; a project that is built goes on top, as uv sync does
    return Plan(lock.kind, method, reason, project, unused=unused, directory=directory)
