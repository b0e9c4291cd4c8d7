"""The launcher of the exec-python images: unpack the code bundle, install its requirements, run the job.

Usage: /build/launcher.py -- COMMAND [ARGS...]

The stages a job goes through, in this order, and the modules each uses:

- settings: every setting, read from the environment and checked once, before any work:
  - values: reading one value in each form (paths, sizes, numbers, yes or no);
  - indexes: the installers' PIP_* and UV_* settings, each pair resolved to one value, and
    the credentials the environment holds;
- bundle: the code bundle at /code, put into the working directory:
  - extract: the libarchive session that reads a tar, a zip or a directory and writes it;
  - entries: each entry put through the policy, then written;
  - policy: what a bundle may write, from names and numbers alone (no disk);
  - damage: what an error of libarchive, zlib or zipfile means, in one line;
  - beneath: paths beneath the root, looked up and removed without following links;
  - decompress: compressed streams, verified to their end;
  - libarchive: the calls of Debian's libarchive, through ctypes;
- detect: which way the bundle declares its requirements:
  - plans: what each way installs, checked before anything installs;
  - manifests: reading pyproject.toml, PEP 723 blocks, Pipfiles and locks;
  - locks: one record per kind of lock, and the kinds of plan;
- install: installing them with uv or pip:
  - commands: the commands of an install, and the environment the installers get;
  - requirement_files: whether a requirements file names its own index;
  - steps: running one command, bounded in time, its output logged;
  - failures: what an installer's failure means;
  - defaults: the image's default libraries, kept in view;
- log: /outputs/requirements.log, and the launcher's lines on stderr, each one printable line;
- run: handing the process over to the job's command.

main.py runs them in that order (main.prepare, in-process, up to the hand-over; main.main
execs the job); errors.py holds the exit codes. The contract this implements, clause by
clause, is CONTRACT.md. Standard library only (and Debian's libarchive, through ctypes):
the launcher runs before any of the job's requirements exist.
"""
