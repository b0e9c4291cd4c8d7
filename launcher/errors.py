"""The exit codes of the launcher's own failures, and the one error type that carries them.

The job's own exit code passes through unchanged; these are distinct from the codes a
job usually exits with (sysexits.h, and the shell's 126 and 127). CONTRACT.md, L7.1.
"""

from __future__ import annotations

EX_USAGE = 64  # no command
EX_BUNDLE = 65  # the bundle cannot be extracted, or is refused
EX_INSTALL = 69  # installing the requirements failed
EX_SOFTWARE = 70  # a bug in the launcher
EX_CANTCREATE = 73  # no writable place for the job, or no space left there
EX_CONFIG = 78  # a setting is malformed, or the requirements are declared in an unsupported or invalid way
EX_NOEXEC = 126  # the command cannot be run
EX_NOTFOUND = 127  # the command is not found


class LauncherError(Exception):
    """A failure of the launcher itself: one line for the user, and an exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
