"""Stage 3: how the bundle declares its requirements (CONTRACT.md, L3).

Every marker file at the top of the working directory is collected first, then the
precedence below decides; the plan says what was found, what was used and why.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import EX_CONFIG, LauncherError
from .settings import NO_INSTALL, REQUIREMENTS_SETTING, Settings

# Detection, first match wins (L3.1 to L3.4); then one .py file with PEP 723 metadata.
REQUIREMENTS_TXT = "requirements.txt"
PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg")
# Files of package managers that are not supported (L3.6), and the manager each belongs to.
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
PEP723_BLOCK = re.compile(r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$")


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


def plan(workdir: Path, settings: Settings) -> Plan | None:
    """Decide how to install the bundle's requirements; None means nothing to install."""
    if settings.requirements == NO_INSTALL:
        return None
    if settings.requirements is not None:
        return requested_plan(workdir, settings.requirements)
    return detected_plan(workdir)


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
    declared_elsewhere = any(os.path.lexists(directory / other) for other in ("pyproject.toml", "setup.py"))
    shim = directory / "setup.py" if name == "setup.cfg" and not declared_elsewhere else None
    return Plan(method, reason, [target], setup_py_shim=shim)


def requested_plan(workdir: Path, setting: str) -> Plan:
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
    if path.name in PROJECT_FILES:
        method = f"project at {path.parent.relative_to(workdir)}"
        return project_plan(path.parent, str(path.parent), path.name, method, reason)
    return Plan(setting, reason, ["-r", setting])


def detected_plan(workdir: Path) -> Plan | None:
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
