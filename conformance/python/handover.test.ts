// How the launcher hands the process over to the job: as a fresh process, with the
// container's environment unchanged, and with an init as PID 1 even when the
// orchestrator removed the image's entrypoint.
import { chmod, mkdir } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir, tgz } from "../support/fixtures.js";
import { packageIndex } from "../support/indexes.js";
import { launch, launcherLines, restricted, runPython, usingIndex } from "../support/python.js";

const index = packageIndex();

/** A /proc/PID/status field of the job's process, as hex. */
const statusField = (status: string, field: string) => status.match(new RegExp(`^${field}:\\s+(\\S+)$`, "m"))?.[1];
const jobLines = (stderr: string) => stderr.split("\n").filter((line) => line && !line.startsWith("launcher: "));

describe("python: the hand-over to the job", () => {
  it("L6.7 the job starts with no signal ignored and none blocked", async () => {
    // cat is the job itself: the launcher execs it, so its status is what the launcher left.
    const job = await runPython({ command: launch("cat", "/proc/self/status") });
    expect(job.exitCode).toBe(0);
    expect(statusField(job.stdout, "SigIgn")).toBe("0000000000000000");
    expect(statusField(job.stdout, "SigBlk")).toBe("0000000000000000");
  });

  it("L6.7 a container started with signals 32 and 33 ignored and 32 to 34 blocked (as Debian's dockerd 20.10 starts them): the job has none ignored or blocked", async () => {
    // The container's first process sets them through the system calls (Python's signal module
    // refuses 32 and 33), shows its own state, then runs the launcher under tini as the image does.
    const start = [
      "import ctypes, os, sys",
      "libc = ctypes.CDLL(None)",
      "sigaction, sigprocmask = {'x86_64': (13, 14), 'aarch64': (134, 135)}[os.uname().machine]",
      "ignore = ctypes.create_string_buffer((1).to_bytes(8, 'little') + bytes(24))",
      "for number in (32, 33, 13): assert libc.syscall(sigaction, number, ignore, None, 8) == 0",
      "mask = ctypes.c_uint64(0b111 << 31)",
      "assert libc.syscall(sigprocmask, 0, ctypes.byref(mask), None, 8) == 0",
      "print(*(line for line in open('/proc/self/status') if line.startswith(('SigIgn', 'SigBlk'))), sep='', end='', file=sys.stderr)",
      "os.execv('/usr/bin/tini', ['tini', '--', '/build/launcher.py', '--', 'cat', '/proc/self/status'])",
    ].join("\n");
    const job = await runPython({ entrypoint: ["/usr/bin/python3", "-c", start] });
    expect(statusField(job.stderr, "SigIgn")).toBe("0000000181001000"); // and Python's own SIGPIPE and SIGXFSZ
    expect(statusField(job.stderr, "SigBlk")).toBe("0000000380000000");
    expect(job.exitCode).toBe(0);
    expect(statusField(job.stdout, "SigIgn")).toBe("0000000000000000");
    expect(statusField(job.stdout, "SigBlk")).toBe("0000000000000000");
  });

  it("L7.1 a command on a /tmp mounted noexec (a plain --tmpfs /tmp): 126, one line that names the mount, not chmod", async () => {
    const job = await runPython({
      code: await tgz({ "run.sh": "#!/bin/sh\necho ran\n" }, ["run.sh"]),
      user: "12345:12345",
      readOnlyRoot: true,
      configure: (c) => c.withTmpFs({ "/tmp": "rw,noexec" }),
      command: launch("./run.sh"),
    });
    expect(job.exitCode).toBe(126);
    expect(launcherLines(job.stderr)).toEqual([
      "launcher: nothing to install (no requirements file found)",
      "launcher: command './run.sh' is on a filesystem mounted noexec (./run.sh); mount it with exec (such as --tmpfs /tmp:exec), or run it with its interpreter",
    ]);
  });

  it.each([
    ["yes | head -1 ends quietly (SIGPIPE)", ["sh", "-c", "yes | head -1"], 0, "y\n", []],
    ["a pipeline under pipefail exits 141", ["bash", "-o", "pipefail", "-c", "yes | head -1"], 141, "y\n", []],
    [
      "a write past ulimit -f ends its writer with SIGXFSZ (128+25)",
      ["sh", "-c", "ulimit -f 1; head -c 9000 /dev/zero > big; echo $?"],
      0,
      "153\n",
      ["File size limit exceeded"],
    ],
  ])("L6.7 %s", async (_, command, exitCode, stdout, stderr) => {
    const job = await runPython({ command: launch(...command) });
    expect(job.stdout).toBe(stdout);
    expect(jobLines(job.stderr)).toEqual(stderr);
    expect(job.exitCode).toBe(exitCode);
  });

  it("L6.7 `uv run` as the command runs in the environment the launcher prepared, with no second install (no network)", async () => {
    const code = await tgz({
      "pyproject.toml": '[project]\nname = "app"\nversion = "0.1.0"\nrequires-python = ">=3.9"\ndependencies = ["numpy"]\n',
      "main.py": "import numpy, sys\nprint('numpy from', sys.prefix)\n",
    });
    const job = await runPython({ code, command: launch("uv", "run", "main.py"), configure: (c) => c.withNetworkMode("none") });
    expect(job.stdout).toBe("numpy from /opt/venv\n");
    expect(job.exitCode).toBe(0);
  });

  it("L6.7 a uid without an account on a read-only root gets a HOME it can write (/tmp/job-home), for ~/.cache and ~/.config", async () => {
    const code = "import os, pathlib; (pathlib.Path.home() / '.cache' / 'tool').mkdir(parents=True); (pathlib.Path.home() / '.config').mkdir(); print(os.environ['HOME'], oct(os.stat(os.environ['HOME']).st_mode & 0o777))";
    const job = await runPython(restricted({ command: launch("python", "-c", code) }));
    expect(job.stderr).not.toMatch(/Traceback/);
    expect(job.stdout).toBe("/tmp/job-home 0o700\n");
    expect(job.exitCode).toBe(0);
  });

  it("L6.7 when /tmp/job-home is another uid's, the job's HOME is /tmp/job-home-UID, its own", async () => {
    const tmp = await tempDir();
    await chmod(tmp, 0o1777);
    await mkdir(path.join(tmp, "job-home")); // root's, as this suite runs, and open to all
    await chmod(path.join(tmp, "job-home"), 0o777);
    const code = "import os; open(os.path.join(os.environ['HOME'], '.probe'), 'w').write('x'); print(os.environ['HOME'])";
    const job = await runPython({
      user: "12345:12345",
      command: launch("python", "-c", code),
      configure: (c) => c.withBindMounts([{ source: tmp, target: "/tmp" }]),
    });
    expect(job.stderr).not.toMatch(/Traceback/);
    expect(job.stdout).toBe("/tmp/job-home-12345\n");
    expect(job.exitCode).toBe(0);
  });

  it("L6.7 the job gets the container's environment unchanged (PYTHON* included), but for uv's project environment", async () => {
    const env = {
      SPACED: "a b  c",
      EMPTY: "",
      PYTHONPATH: "/tmp/job/src",
      PYTHONHOME: "/nowhere",
      PYTHONSTARTUP: "/tmp/job/startup.py",
      LANG: "C",
    };
    const [direct, launched] = await Promise.all([
      runPython({ env, command: ["printenv"] }),
      runPython({ env, command: launch("printenv") }),
    ]);
    const parse = (out: string) => out.split("\n").filter((line) => line && !line.startsWith("HOSTNAME="));
    expect(launched.exitCode).toBe(0);
    const uv = ["UV_NO_SYNC=1", "UV_PROJECT_ENVIRONMENT=/opt/venv"];
    expect(parse(launched.stdout).sort()).toEqual([...parse(direct.stdout), ...uv].sort());
    expect(parse(launched.stdout)).toEqual(expect.arrayContaining(["SPACED=a b  c", "EMPTY=", "PYTHONHOME=/nowhere"]));
    expect(launched.stdout).not.toMatch(/^LC_/m);
  });

  it("L6.7 the job's PYTHONPATH and PYTHONHOME reach neither the launcher nor the installer", async () => {
    // With PYTHONPATH at the bundle, its tomllib.py would run inside the launcher as it reads the
    // script's metadata; PYTHONHOME elsewhere would stop the launcher's Python and uv's.
    const script = '# /// script\n# dependencies = ["greeting==1.0.0"]\n# ///\nimport greeting\nprint(greeting.hello())\n';
    const job = await runPython(
      usingIndex(index, {
        code: await tgz({ "main.py": script, "tomllib.py": "import sys\nprint('hijacked', file=sys.stderr)\nsys.exit(99)\n" }),
        env: { PYTHONPATH: "/tmp/job", PYTHONHOME: "/nowhere" },
        command: launch("sh", "-c", 'echo "$PYTHONPATH $PYTHONHOME"'),
      }),
    );
    expect(job.stderr).not.toMatch(/hijacked/);
    expect(launcherLines(job.stderr)).toEqual([
      expect.stringMatching(/^launcher: installed inline script metadata of main\.py with uv: 1 packages in \d+\.\d s$/),
    ]);
    expect(job.stdout).toBe("/tmp/job /nowhere\n");
    expect(job.exitCode).toBe(0);
  });
});

describe("python: without the image's entrypoint", () => {
  it("L0.3 the launcher, made PID 1, runs again under tini, which stays PID 1 for the job", async () => {
    const [init, shell] = await Promise.all([
      runPython({ entrypoint: [], command: launch("cat", "/proc/1/cmdline") }),
      runPython({ entrypoint: [], command: launch("sh", "-c", "echo $$") }),
    ]);
    expect(init.stdout.split("\0")).toEqual(["/usr/bin/tini", "--", "/usr/bin/python3", "-IS", "/build/launcher.py", "--", "cat", "/proc/1/cmdline", ""]);
    expect(Number(shell.stdout)).toBeGreaterThan(1);
    expect([init.exitCode, shell.exitCode]).toEqual([0, 0]);
  });

  it("L0.3 an orchestrator's python job without the entrypoint runs as with it", async () => {
    const code = await tgz({ "main.py": "import sys\nprint('args', sys.argv[1:])\nsys.exit(3)\n" });
    const [withEntrypoint, without] = await Promise.all([
      runPython({ code, command: launch("python", "main.py", "a b") }),
      runPython({ code, entrypoint: [], command: launch("python", "main.py", "a b") }),
    ]);
    expect(without.stdout).toBe("args ['a b']\n");
    expect(without.exitCode).toBe(3);
    expect([without.stdout, without.stderr, without.exitCode]).toEqual([withEntrypoint.stdout, withEntrypoint.stderr, withEntrypoint.exitCode]);
  });
});
