"""Whether a requirements file names its own package index (CONTRACT.md, L4.10).

pip and uv read the same options in a requirements file, but not with the same
precedence: pip lets a file's `--index-url` win over the platform's PIP_INDEX_URL, uv
lets the platform's setting win. The launcher keeps pip's rule for both installers: when
the file, or a file it includes with -r or -c, has an `--index-url` (`-i`) line, the
installer is not given the platform's index. This only looks for that option; the
installers still read the files themselves.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

INDEX_URL = re.compile(r"(?:-i|--index-url)(?:[=\s]|(?<=-i)\S)")
INCLUDE = re.compile(r"(?:-r|--requirement|-c|--constraint)(?:\s*=\s*|\s+)(\S+)")
COMMENT = re.compile(r"(^|\s+)#.*$")
# Bounds on what is read: the files of one install, each of a sensible size.
MAX_FILES = 64
MAX_BYTES = 4 << 20


def option_lines(text: str) -> list[str]:
    """The lines of a requirements file as pip reads them: continuations joined, comments removed."""
    joined = re.sub(r"\\\r?\n", "", text)
    return [COMMENT.sub("", line).strip() for line in joined.splitlines()]


def name_own_index(path: Path, root: Path) -> bool:
    """Whether the requirements file at path, or one it includes inside root, sets --index-url."""
    real_root = os.path.realpath(root)
    seen: set[str] = set()
    pending = [path]
    while pending and len(seen) < MAX_FILES:
        current = pending.pop()
        real = os.path.realpath(current)
        if real in seen or not (real == real_root or real.startswith(real_root + os.sep)):
            continue
        seen.add(real)
        try:
            if not os.path.isfile(real) or os.path.getsize(real) > MAX_BYTES:
                continue
            text = Path(real).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in option_lines(text):
            if INDEX_URL.match(line):
                return True
            include = INCLUDE.match(line)
            if include and "://" not in include.group(1):
                pending.append(Path(real).parent / include.group(1))
    return False
