"""Stage 3: which way the bundle declares its requirements (CONTRACT.md, L3).

Every marker file at the top of the working directory is collected first; then the
precedence below decides, and the plan says what was used, why, and what was not.
What the files declare is read by manifests.py.
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path

from .errors import EX_CONFIG, LauncherError
from .locks import LOCK_NAMES, Kind, lock_named
from .log import shown
from .manifests import Pyproject, script_metadata
from .plans import Plan, lock_plan, nothing, project_plan, script_plan
from .settings import NO_INSTALL, REQUIREMENTS_SETTING, Settings

# Detection, first match wins: the files that select each method, named as CONTRACT.md's
# table in L3 names them (scripts/check-contract compares the two).
DETECTION_ORDER = (
    # a lock, installed exactly (locks.py): uv.lock or poetry.lock (with pyproject.toml),
    # Pipfile.lock (with Pipfile), or pylock.toml (PEP 751)
    LOCK_NAMES,
    ("requirements.txt",),
    # one that declares a project: the project, or only its dependencies when it is an
    # application (no [build-system] nor setup.py, or [tool.uv] package = false, or Poetry's
    # package-mode = false); one that only configures tools does not count
    ("pyproject.toml",),
    ("setup.py", "setup.cfg"),  # the project
    (".py",),  # the one .py file with PEP 723 inline script metadata
)
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
# Where requirement files hide when none is at the top (L3.11): files named like these, in
# folders up to NESTED_DEPTH below it (a monorepo's services/etl/requirements.txt), the
# walk bounded by NESTED_FOLDERS folders; what is left out of bundles is not looked in.
NESTED_NAMES = re.compile(r"requirements([-_][^/]*)?\.txt|requirements/[^/]+\.txt")
NESTED_DEPTH = 3
NESTED_FOLDERS = 2000
SKIPPED_FOLDERS = frozenset({"node_modules", "__pycache__", "site-packages", "venv", ".venv"})


def plan(workdir: Path, settings: Settings) -> Plan:
    """Decide how to install the bundle's requirements."""
    if settings.requirements == NO_INSTALL:
        return nothing(f"{REQUIREMENTS_SETTING}=none")
    found = requested_plan(workdir, settings.requirements, settings) if settings.requirements else None
    found = found or detected_plan(workdir, settings)
    if found.directory is None:
        found.directory = workdir
    return found


def requested_plan(workdir: Path, setting: str, settings: Settings) -> Plan:
    """The plan for the file named by LAUNCHER_REQUIREMENTS, which must be inside the bundle."""
    path = workdir / setting
    root = os.path.realpath(workdir)
    real = os.path.realpath(path)
    if not (real == root or real.startswith(root + os.sep)):
        raise LauncherError(
            EX_CONFIG, f"{REQUIREMENTS_SETTING}={shown(setting)} leads outside the bundle; name a file inside it"
        )
    if not path.is_file():
        raise LauncherError(EX_CONFIG, f"{REQUIREMENTS_SETTING}={shown(setting)}: no such file in the bundle")
    reason = f"named by {REQUIREMENTS_SETTING}"
    if path.suffix == ".py":
        return script_plan(path, reason)
    if lock_named(path.name):
        return lock_plan(path.parent, setting, reason, [], settings)
    if path.name in PROJECT_FILES:
        return project_plan(path.parent, str(path.parent), path.name, reason, settings, posixpath.dirname(setting))
    return Plan(Kind.REQUIREMENTS, shown(setting), reason, ["-r", setting])


def detected_plan(workdir: Path, settings: Settings) -> Plan:
    present = {entry.name for entry in workdir.iterdir()}
    locks = sorted(name for name in present if lock_named(name))
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
        unused = [name for name in manifests if name != lock_named(locks[0]).manifest]
        note = f"; not used: {', '.join(unused)} (a lock wins)" if unused else ""
        return lock_plan(workdir, locks[0], f"found {locks[0]}{note}", unused, settings)
    tool_locks = {name for name in present if (lock := lock_named(name)) and lock.manifest}
    ignored_locks = " (LAUNCHER_IGNORE_LOCK is set)" if settings.ignore_lock and tool_locks else ""
    if REQUIREMENTS_TXT in present:
        if not (workdir / REQUIREMENTS_TXT).is_file():
            raise LauncherError(
                EX_CONFIG,
                f"{REQUIREMENTS_TXT} is not a file (a folder, or a link to nothing); bundle the file itself",
            )
        unused = [name for name in manifests if name != REQUIREMENTS_TXT]
        note = f"; not used: {', '.join(unused)} (requirements.txt wins){ignored_locks}" if unused else ""
        return Plan(Kind.REQUIREMENTS, REQUIREMENTS_TXT, f"found {REQUIREMENTS_TXT}{note}", ["-r", REQUIREMENTS_TXT])
    if "pyproject.toml" in present and not Pyproject.read(workdir / "pyproject.toml").declares_project():
        present.discard("pyproject.toml")  # only the settings of tools (ruff, black, pytest)
    for name in PROJECT_FILES:
        if name in present:
            unused = [other for other in manifests if other != name and other not in PROJECT_FILES]
            note = f"; not used: {', '.join(unused)}{ignored_locks}" if unused else ""
            found = project_plan(workdir, ".", name, f"found {name}{note}", settings)
            found.unused = unused
            return found
    scripts = sorted(path for path in workdir.glob("*.py") if script_metadata(path) is not None)
    if len(scripts) > 1:
        names = ", ".join(shown(path.name) for path in scripts[:5]) + (", ..." if len(scripts) > 5 else "")
        raise LauncherError(
            EX_CONFIG, f"several scripts carry inline metadata ({names}); name one with {REQUIREMENTS_SETTING}=FILE"
        )
    if scripts:
        return script_plan(scripts[0], f"found inline script metadata in {shown(scripts[0].name)}")
    if "Pipfile" in present:
        raise LauncherError(
            EX_CONFIG, "found Pipfile without Pipfile.lock; run `pipenv lock` and bundle the lock with it"
        )
    unsupported = sorted(present & UNSUPPORTED_FILES.keys())
    if unsupported:
        found = ", ".join(f"{name} ({UNSUPPORTED_FILES[name]})" for name in unsupported)
        raise LauncherError(EX_CONFIG, f"found {found}, which is not supported; declare requirements with {SUPPORTED}")
    return nothing_found(workdir)


def nothing_found(workdir: Path) -> Plan:
    """No requirements at the top: name the files below it that look like some (L3.11)."""
    nested = nested_requirements(workdir)
    if nested:
        found = ", ".join(shown(name) for name in nested[:5]) + (
            f", and {len(nested) - 5} more" if len(nested) > 5 else ""
        )
        return nothing(
            f"no requirements file at the top of the bundle; found {found}: "
            f"name one with {REQUIREMENTS_SETTING}=FILE to install it"
        )
    return nothing("no requirements file found")


def nested_requirements(workdir: Path) -> list[str]:
    """The files below the top that look like requirements, sorted: a walk breadth first, up to
    NESTED_DEPTH folders down and NESTED_FOLDERS folders in all, not into links or hidden folders."""
    found: list[str] = []
    pending = [""]
    seen = 0
    while pending and seen < NESTED_FOLDERS:
        folder = pending.pop(0)
        seen += 1
        try:
            entries = list(os.scandir(workdir / folder))
        except OSError:
            continue
        for entry in entries:
            path = posixpath.join(folder, entry.name)
            depth = path.count("/")
            if entry.is_dir(follow_symlinks=False):
                if depth < NESTED_DEPTH and not entry.name.startswith(".") and entry.name not in SKIPPED_FOLDERS:
                    pending.append(path)
            elif (folder or entry.name != REQUIREMENTS_TXT) and entry.is_file(follow_symlinks=False):
                tail = posixpath.join(posixpath.basename(folder), entry.name) if folder else entry.name
                if NESTED_NAMES.fullmatch(entry.name) or NESTED_NAMES.fullmatch(tail):
                    found.append(path)
    return sorted(found)
