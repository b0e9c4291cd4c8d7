"""The requirements files of an install, as the launcher reads them before the installer
does (CONTRACT.md, L4.5, L4.10).

- Each file a requirements file includes with -r or -c must be in the bundle: one named
  by an absolute path, or by a path that leads out of it, is exit 78 before anything
  installs (the installer would read it from wherever it is).
- Whether a file names its own package index. pip and uv read the same options in a
  requirements file, but not with the same precedence: pip lets a file's `--index-url`
  win over the platform's PIP_INDEX_URL, uv lets the platform's setting win. The launcher
  keeps pip's rule for both installers: when the file, or a file it includes, has an
  `--index-url` (`-i`) line, the installer is not given the platform's index.

Only these options are looked for; the installers still read the files themselves.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import EX_CONFIG, LauncherError
from .log import shown

TYPE_CHECKING = False  # typing is not imported: every job would pay for it
if TYPE_CHECKING:
    from collections.abc import Iterator

INDEX_URL = re.compile(r"(?:-i|--index-url)(?:[=\s]|(?<=-i)\S)")
# -r FILE, -rFILE, -r=FILE, --requirement FILE, --requirement=FILE (and the same for -c).
INCLUDE = re.compile(r"(?:--requirement|--constraint)(?:\s*=\s*|\s+)(\S+)|(?:-r|-c)\s*=?\s*(\S+)")
COMMENT = re.compile(r"(^|\s+)#.*$")
# Bounds on what is read: the files of one install, each of a sensible size.
MAX_FILES = 64
MAX_BYTES = 4 << 20


def option_lines(text: str) -> list[str]:
    """The lines of a requirements file as pip reads them: continuations joined, comments removed."""
    joined = re.sub(r"\\\r?\n", "", text)
    return [COMMENT.sub("", line).strip() for line in joined.splitlines()]


def read_all(path: Path, root: Path) -> Iterator[list[str]]:
    """The option lines of the requirements file at path and of each file it includes (-r, -c),
    each file once; an include that leads outside root is exit 78."""
    real_root = os.path.realpath(root)
    seen: set[str] = set()
    pending = [path]
    while pending and len(seen) < MAX_FILES:
        current = pending.pop()
        real = os.path.realpath(current)
        if real in seen:
            continue
        seen.add(real)
        try:
            if not os.path.isfile(real) or os.path.getsize(real) > MAX_BYTES:
                continue
            text = Path(real).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        lines = option_lines(text)
        for line in lines:
            include = INCLUDE.match(line)
            named = include and (include.group(1) or include.group(2))
            if not named or "://" in named:
                continue  # a URL is fetched by the installer, as it fetches packages
            target = os.path.realpath(os.path.join(os.path.dirname(real), named))
            if not (target == real_root or target.startswith(real_root + os.sep)):
                raise LauncherError(
                    EX_CONFIG,
                    f"{shown(os.path.relpath(real, real_root))} includes {shown(named)}, which is outside "
                    "the bundle; put that file in the bundle and name it by a path inside it",
                )
            pending.append(Path(target))
        yield lines


def name_own_index(path: Path, root: Path) -> bool:
    """Whether the requirements file at path, or one it includes, sets --index-url; an include
    outside root is exit 78."""
    found = [line for lines in read_all(path, root) for line in lines]  # every include checked
    return any(INDEX_URL.match(line) for line in found)
