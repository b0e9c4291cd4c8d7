"""The launcher's stages, in order, and what it does when one of them fails (CONTRACT.md, L0 and L7)."""

from __future__ import annotations

from . import bundle, detect, install, run, settings
from .errors import EX_SOFTWARE, EX_USAGE, LauncherError
from .log import Log, say

USAGE = "usage: /build/launcher.py -- COMMAND [ARGS...]"


def parse_command(argv: list[str]) -> list[str]:
    """Return the user's argv: everything after the first `--`."""
    if "--" not in argv:
        raise LauncherError(EX_USAGE, f"no command given; {USAGE}")
    command = argv[argv.index("--") + 1 :]
    if not command:
        raise LauncherError(EX_USAGE, f"no command after '--'; {USAGE}")
    return command


def main(argv: list[str]) -> int:
    environ = settings.original_environment()
    run.ensure_init(environ)
    log = Log(None)
    try:
        command = parse_command(argv)
        config = settings.read(environ)
        log = Log.open(config.outputs)
        workdir = bundle.prepare(config)
        plan = detect.plan(workdir, config)
        env = config.base_env
        if plan.kind == "nothing":
            log.step(f"detect: nothing to install ({plan.reason})")
            say(f"nothing to install ({plan.reason})")
        else:
            log.step(f"detect: {plan.method} ({plan.reason})")
            env = install.install(plan, config, log, workdir)
        log.close()
        run.hand_over(command, workdir, run.job_environment(config, env))
    except LauncherError as error:
        log.step(f"failed: {error}")
        log.close()
        say(str(error))
        return error.code
    except Exception as error:  # a launcher bug: say so in one line, keep the details for a bug report
        say(f"internal error: {type(error).__name__}: {error}; set {settings.DEBUG_SETTING}=1 for the traceback")
        if settings.debug_requested(environ):
            raise
        return EX_SOFTWARE
