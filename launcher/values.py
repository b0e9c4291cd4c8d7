"""Reading one setting's value in each form the launcher accepts; a malformed one is exit 78
with one line naming the setting and the form it takes (CONTRACT.md, L7.2).

An empty value counts as unset. settings.py and indexes.py read every setting through these.
"""

from __future__ import annotations

import math
import posixpath
from pathlib import Path

from .errors import EX_CONFIG, LauncherError

# pip's reading of a yes/no setting (PIP_NO_INDEX).
TRUE_WORDS = frozenset({"1", "y", "yes", "t", "true", "on"})
FALSE_WORDS = frozenset({"0", "n", "no", "f", "false", "off"})


def value_of(environ: dict[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def invalid(name: str, value: str | None, form: str) -> LauncherError:
    shown = f"={value[:80]!r}" if value is not None else ""
    return LauncherError(EX_CONFIG, f"{name}{shown} is not valid: {form}")


def absolute(name: str, value: str) -> Path:
    if not value.startswith("/") or "\0" in value:
        raise invalid(name, value, "give an absolute path")
    return Path(posixpath.normpath(value))


def flag(environ: dict[str, str], name: str) -> bool:
    value = value_of(environ, name)
    if value is None or value.lower() in FALSE_WORDS:
        return False
    if value.lower() in TRUE_WORDS:
        return True
    raise invalid(name, value, "give 1, true, yes or on (or 0, false, no, off)")


def bounded(environ: dict[str, str], name: str, whole: bool, low: float, high: float, unit: str) -> float | None:
    """A number of seconds or retries in [low, high]; None when unset."""
    value = value_of(environ, name)
    if value is None:
        return None
    try:
        number = (int(value) if whole else float(value)) if value.isascii() else math.nan
    except ValueError:
        number = math.nan
    if not low <= number <= high:
        kind = "a whole number" if whole else "a number"
        raise invalid(name, value, f"give {kind} of {unit} from {low:g} to {high:g}")
    return number
