"""The launcher's stages, in order, and what it does when one of them fails (CONTRACT.md, L0 and L7).

prepare() runs every stage up to the hand-over and returns what would be handed over
(the command, its working directory, its environment) or the launcher's exit code;
it never execs and never exits, so that a test or a fuzz target can run it in-process.
main() is the thin part around it: an init as PID 1, then the exec.
"""

from __future__ import annotations

from pathlib import Path

from . import bundle, detect, install, plans, run, settings
from .errors import EX_NOTFOUND, EX_SOFTWARE, EX_USAGE, LauncherError
from .locks import Kind
from .log import Log, say

TYPE_CHECKING = False  # typing is not imported: every job would pay for it
if TYPE_CHECKING:
    from collections.abc import Callable

USAGE = "usage: /build/launcher.py -- COMMAND [ARGS...]"


class Handover:
    """What the launcher hands its process over to: the user's command, where it runs, and its environment."""

    def __init__(self, command: list[str], workdir: Path, environment: dict[str, str]) -> None:
        self.command = command
        self.workdir = workdir
        self.environment = environment


def parse_command(argv: list[str]) -> list[str]:
    """Return the user's argv: everything after the first `--`."""
    if "--" not in argv:
        raise LauncherError(EX_USAGE, f"no command given; {USAGE}")
    command = argv[argv.index("--") + 1 :]
    if not command:
        raise LauncherError(EX_USAGE, f"no command after '--'; {USAGE}")
    if not command[0]:  # no program has an empty name: a shell says the same (127)
        raise LauncherError(EX_NOTFOUND, "command not found: '' (the command after '--' is an empty word)")
    return command


def prepare(
    argv: list[str],
    environ: dict[str, str],
    installer: Callable[[plans.Plan, settings.Settings, Log], Path] = install.install,
) -> Handover | int:
    """Every stage up to the hand-over: the Handover, or the exit code of a failure (after one
    line on stderr). installer installs a plan and returns the environment the job runs in."""
    log = Log(None)
    try:
        command = parse_command(argv)
        config = settings.read(environ)
        log = Log.open(config.outputs)
        workdir = bundle.prepare(config)
        plan = detect.plan(workdir, config)
        env = config.base_env
        if plan.kind == Kind.NOTHING:
            log.step(f"detect: nothing to install ({plan.reason})")
            say(f"nothing to install ({plan.reason})")
        else:
            log.step(f"detect: {plan.method} ({plan.reason})")
            env = installer(plan, config, log)
        log.close()
        return Handover(command, workdir, run.job_environment(config, env))
    except LauncherError as error:
        log.step(f"failed: {error}")
        log.close()
        say(str(error))
        return error.code
    except Exception as error:  # a launcher bug: say so in one line, keep the details for a bug report
        log.close()
        say(f"internal error: {type(error).__name__}: {error}; set {settings.DEBUG_SETTING}=1 for the traceback")
        if settings.debug_requested(environ):
            import traceback

            traceback.print_exc()
        return EX_SOFTWARE


def main(argv: list[str]) -> int:
    environ = settings.original_environment()
    run.ensure_init(environ)
    handover = prepare(argv, environ)
    if isinstance(handover, int):
        return handover
    try:
        run.hand_over(handover.command, handover.workdir, handover.environment)
    except LauncherError as error:
        say(str(error))
        return error.code
