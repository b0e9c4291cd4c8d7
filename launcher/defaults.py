"""The image's default libraries, kept in view while a job's requirements install (CONTRACT.md, L4.9).

Before anything is installed, uv resolves the requirements against the image's
environment (`uv pip install --dry-run`), which keeps what is installed when it
satisfies them, as an install into it as root does. From that resolution:

- a default library it would replace is named on one line, with the defaults that
  depend on it; a replacement that such a default's own requirements do not accept
  (uv tells, resolving the two together) is said to break it, before the job runs;
- as another uid, the job environment gets the same versions: every default library
  that is not replaced constrains the install there.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DRY_RUN_LINE = re.compile(r"^ ([+-]) ([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", re.MULTILINE)
REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
SPECIFIER = r"[<>=!~][<>=!~0-9A-Za-z.*+]*(?:,[<>=!~0-9A-Za-z.*+]+)*"


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class Resolution:
    """What installing would do to the image's environment: name -> version installed, and
    name -> version removed (replaced)."""

    def __init__(self, installs: dict[str, str], removes: dict[str, str]) -> None:
        self.installs = installs
        self.removes = removes

    @classmethod
    def from_uv(cls, output: str) -> Resolution:
        """From the lines of `uv pip install --dry-run` (` + name==1.0`, ` - name==0.9`)."""
        changes: dict[str, dict[str, str]] = {"+": {}, "-": {}}
        for sign, name, version in DRY_RUN_LINE.findall(output):
            changes[sign][normalized(name)] = version
        return cls(changes["+"], changes["-"])

    @classmethod
    def from_pip(cls, report: str, defaults: dict[str, tuple[str, list[str]]]) -> Resolution:
        """From pip's JSON installation report: what it installs, and the defaults it replaces."""
        import json

        installs = {
            normalized(item["metadata"]["name"]): item["metadata"]["version"]
            for item in json.loads(report or "{}").get("install", [])
        }
        removes = {name: defaults[name][0] for name, version in installs.items() if name in defaults}
        return cls(installs, {name: old for name, old in removes.items() if old != installs[name]})

    def replaced(self) -> list[tuple[str, str, str]]:
        """(name, installed version, new version) of what is installed and would be replaced."""
        return [(name, old, self.installs[name]) for name, old in sorted(self.removes.items()) if name in self.installs]


def site_packages(env: Path) -> Path:
    return env / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def installed(env: Path) -> dict[str, tuple[str, list[str]]]:
    """Every distribution in env: name -> (version, its requirements without extras)."""
    from importlib.metadata import distributions

    found: dict[str, tuple[str, list[str]]] = {}
    for dist in distributions(path=[str(site_packages(env))]):
        requirements = [req for req in dist.requires or [] if "extra ==" not in req and "extra==" not in req]
        found[normalized(dist.metadata["Name"])] = (dist.version, requirements)
    return found


def dependents(defaults: dict[str, tuple[str, list[str]]], name: str) -> list[str]:
    """The defaults that require name, as their metadata says."""
    return sorted(
        dependent
        for dependent, (_, requirements) in defaults.items()
        if any((match := REQUIREMENT_NAME.match(req)) and normalized(match.group(1)) == name for req in requirements)
    )


def required_of(output: str, user: str, name: str) -> str:
    """What user requires of name, from uv's explanation of why the two cannot go together
    (the requirement as uv concludes it, its markers evaluated)."""
    found = re.findall(
        rf"{re.escape(user)}==\S+ depends on ({re.escape(name)})({{[^}}]*}})?({SPECIFIER})", output, re.IGNORECASE
    )
    found = [(found_name, marker, specifier.rstrip(".")) for found_name, marker, specifier in found]  # the full stop
    evaluated = [found_name + specifier for found_name, marker, specifier in found if not marker]
    return evaluated[-1] if evaluated else (found[-1][0] + found[-1][2] if found else name)


def constraints(defaults: dict[str, tuple[str, list[str]]], resolution: Resolution) -> str:
    """A constraints file that holds every default library the resolution keeps at its version."""
    return "".join(
        f"{name}=={version}\n" for name, (version, _) in sorted(defaults.items()) if name not in resolution.removes
    )


def minor(version: str) -> tuple[int, ...]:
    """A version's major and minor numbers, as far as they are numbers: (2, 0) for 2.0.1rc1."""
    numbers = []
    for part in version.split(".")[:2]:
        digits = re.match(r"\d+", part)
        if digits is None:
            break
        numbers.append(int(digits.group()))
    return tuple(numbers)


def describe(name: str, old: str, new: str, users: list[str], broken: dict[str, str]) -> str:
    """One line about a default library that the requirements replace."""
    line = f"the requirements replace the default library {name} {old} with {new}"
    if name == "duckdb" and minor(new) > minor(old):
        # exec-duckdb's CLI is the image's DuckDB: files a newer DuckDB writes by default it may not open.
        keep = ".".join(map(str, minor(old)))
        line += (
            f"; database files duckdb {new} writes may not open in exec-duckdb (DuckDB {old}): "
            f"ATTACH them with (STORAGE_VERSION 'v{keep}.0') to keep them readable"
        )
    if users:
        line += f"; {', '.join(users)} {'depends' if len(users) == 1 else 'depend'} on it"
    if broken:
        needs = ", ".join(f"{user} requires {requirement}" for user, requirement in broken.items())
        them = "it" if len(broken) == 1 else "them"
        line += f", and {new} breaks {', '.join(broken)} ({needs}): importing {them} may fail"
    return line
