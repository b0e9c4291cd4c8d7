"""The launcher of exec-python-3.11: unpack the code bundle, install its requirements, run the job.

Usage: /build/launcher.py -- COMMAND [ARGS...]

Each module is one stage a job goes through, in this order:

- settings: every setting, read from the environment and checked once, before any work;
- bundle: the code bundle at /code, extracted (through libarchive) or copied into the
  working directory;
- detect: how the bundle declares its requirements;
- install: installing them with uv or pip;
- log: /outputs/requirements.log, and the launcher's lines on stderr;
- run: handing the process over to the job's command.

main.py runs them in that order; errors.py holds the exit codes. The contract this
implements, clause by clause, is CONTRACT.md. Standard library only (and Debian's
libarchive, through ctypes): the launcher runs before any of the job's requirements exist.
"""
