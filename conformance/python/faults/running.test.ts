// Jobs that cannot start, die, are stopped, flood their output or leave processes
// behind: each case states the exit code the orchestrator sees and what must hold.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { tgz } from "../../support/fixtures.js";
import { launch, launcherLines, pythonCode, runPython } from "../../support/python.js";

/** The image's entrypoint (tini), and none at all, as Bacalhau's custom job types run the image (L0.3). */
const entrypoints: [string, string[] | undefined][] = [
  ["the image's entrypoint", undefined],
  ["no entrypoint", []],
];

// First in the file: one of the longest tests of the suite, which the others run beside.
describe("python faults: a gigabyte of output", () => {
  it("L6.5 a job that writes 1 GiB to stdout: every byte arrives, and memory stays flat", { timeout: 600_000 }, async () => {
    const block = Buffer.alloc(1 << 20, "0123456789abcdef\n");
    const expected = createHash("sha256");
    for (let i = 0; i < 1024; i++) expected.update(block);
    const script = [
      "import os, sys",
      "block = (b'0123456789abcdef\\n' * 61681)[: 1 << 20]",
      "for _ in range(1024): sys.stdout.buffer.write(block)",
      "sys.stdout.flush()",
      "peak = [p for p in ('/sys/fs/cgroup/memory.peak', '/sys/fs/cgroup/memory/memory.max_usage_in_bytes') if os.path.exists(p)]",
      "print('peak', open(peak[0]).read().strip(), file=sys.stderr)",
    ].join("\n");
    // The suite counts and hashes the stream as it comes, and never holds it.
    const received = createHash("sha256");
    let bytes = 0;
    const job = await runPython({
      command: pythonCode(script),
      configure: (c) => c.withMemoryLimit(256 << 20),
      onStdout: (chunk) => {
        received.update(chunk);
        bytes += chunk.length;
      },
      // A hang detector: on a busy 2-core machine the engine moves this gigabyte slowly.
      timeoutMs: 540_000,
    });
    expect(job.stderr).toMatch(/\npeak \d+\n$/);
    expect(job.exitCode).toBe(0);
    expect([bytes, received.digest("hex")]).toEqual([1 << 30, expected.digest("hex")]);
    const peak = Number(job.stderr.match(/^peak (\d+)$/m)?.[1]);
    // Everything the container used at its peak, launcher included: far below the 1 GiB it wrote.
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThan(128 << 20);
  });
});

describe("python faults: commands that cannot run", () => {
  const scripts = {
    "plain.sh": "#!/bin/sh\necho ran\n",
    "orphan.sh": "#!/no/such/interpreter\necho ran\n",
    "notes.txt": "just text, no #! line\n",
    "tools/.keep": "",
  };
  it.each([
    { command: ["no-such-command"], exitCode: 127, message: "launcher: command not found on PATH: 'no-such-command'" },
    { command: ["./missing.sh"], exitCode: 127, message: "launcher: command not found: './missing.sh'" },
    {
      command: ["./plain.sh"],
      exitCode: 126,
      message: "launcher: command './plain.sh' is not executable (chmod +x it, or run it with its interpreter)",
    },
    { command: ["./tools"], exitCode: 126, message: "launcher: command './tools' is a directory" },
    {
      command: ["./orphan.sh"],
      exitCode: 126,
      message: "launcher: cannot run './orphan.sh': its interpreter '/no/such/interpreter' (from its #! line) does not exist",
    },
    { command: ["./notes.txt"], exitCode: 126, message: "launcher: cannot run './notes.txt': Exec format error" },
    { command: ["", "x"], exitCode: 127, message: "launcher: command not found: '' (the command after '--' is an empty word)" },
    {
      command: ["hatch", "run", "job"],
      exitCode: 127,
      message:
        "launcher: command not found on PATH: 'hatch' (Hatch is not in the image; run the command itself, such as `python main.py`: the launcher has installed the requirements)",
    },
  ])("L7.1 '$command.0': exit $exitCode, as a shell would, and one line", async ({ command, exitCode, message }) => {
    const job = await runPython({ code: await tgz(scripts, ["orphan.sh", "notes.txt"]), command: launch(...command) });
    expect(job.exitCode).toBe(exitCode);
    expect(launcherLines(job.stderr).filter((line) => !line.includes("nothing to install"))).toEqual([message]);
    expect(job.stdout).toBe("");
  });
});

// docker stop's grace period for a job that the signal reaches: it must end well within it,
// where a signal that did not reach it would leave it to be killed at the end.
const GRACE_S = 30;
// A job that ignores SIGTERM is killed when this grace period ends, not before, nor long after.
const SHORT_GRACE_S = 3;

describe("python faults: signals and docker stop", () => {
  it.each([
    ["SIGKILL", 9],
    ["SIGTERM", 15],
    ["SIGINT", 2],
  ])("L6.3 a job that dies of %s exits 128+%i", async (signal, number) => {
    const script = `import os, signal\nif signal.${signal} != signal.SIGKILL: signal.signal(signal.${signal}, signal.SIG_DFL)\nos.kill(os.getpid(), signal.${signal})`;
    const job = await runPython({ command: pythonCode(script) });
    expect(job.exitCode).toBe(128 + number);
  });

  it.each([
    {
      name: "a handler runs and its exit code is kept",
      script: [
        "import signal, sys, time",
        "def stop(*_): print('handled SIGTERM', flush=True); sys.exit(42)",
        "signal.signal(signal.SIGTERM, stop)",
        "print('ready', flush=True)",
        "time.sleep(600)",
      ].join("\n"),
      exitCode: 42,
      stdout: "ready\nhandled SIGTERM\n",
      grace: GRACE_S,
      seconds: [0, GRACE_S / 3],
    },
    {
      name: "without a handler the job ends by the default action",
      script: "import time\nprint('ready', flush=True)\ntime.sleep(600)",
      exitCode: 143,
      stdout: "ready\n",
      grace: GRACE_S,
      seconds: [0, GRACE_S / 3],
    },
    {
      name: "a job that ignores SIGTERM, and its child, are killed at the engine's timeout",
      script: [
        "import signal, subprocess, time",
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)",
        "subprocess.Popen(['sleep', '600'])",
        "print('ready', flush=True)",
        "time.sleep(600)",
      ].join("\n"),
      exitCode: 137,
      stdout: "ready\n",
      grace: SHORT_GRACE_S,
      seconds: [SHORT_GRACE_S - 0.5, SHORT_GRACE_S + 10],
    },
  ].flatMap((row) => entrypoints.map(([entry, entrypoint]) => ({ ...row, entry, entrypoint }))))(
    "L6.4 docker stop ($entry): $name",
    async ({ script, exitCode, stdout, grace, seconds, entrypoint }) => {
      let stopSeconds = Number.NaN;
      let runningAfter: boolean | undefined;
      const job = await runPython({
        command: pythonCode(script),
        entrypoint,
        waitFor: /ready/,
        whileRunning: async (container) => {
          const started = performance.now();
          await container.stop({ t: grace });
          stopSeconds = (performance.now() - started) / 1000;
          runningAfter = (await container.inspect()).State.Running;
        },
      });
      expect(job.exitCode).toBe(exitCode);
      expect(job.stdout).toBe(stdout);
      expect(runningAfter).toBe(false);
      expect(stopSeconds).toBeGreaterThanOrEqual(seconds[0]!);
      expect(stopSeconds).toBeLessThan(seconds[1]!);
    },
  );
});

describe("python faults: output and processes", () => {
  it("L6.5 output that is not valid UTF-8 passes through unchanged", async () => {
    const raw = "\\xff\\xfe\\x00 raw \\x80\\xc3( end\\n";
    const job = await runPython({
      command: pythonCode(`import sys\nsys.stdout.buffer.write(b"${raw}")\nsys.stderr.buffer.write(b"${raw}")`),
    });
    const bytes = Buffer.from([0xff, 0xfe, 0x00, ...Buffer.from(" raw "), 0x80, 0xc3, ...Buffer.from("( end\n")]);
    expect(job.stdoutBytes.toString("hex")).toBe(bytes.toString("hex"));
    expect(job.stderrBytes.subarray(-bytes.length).toString("hex")).toBe(bytes.toString("hex"));
    expect(job.exitCode).toBe(0);
  });

  it.each(entrypoints)("L6.6 orphaned children are reaped (%s): no zombies are left", async (_, entrypoint) => {
    const script = [
      "import os, subprocess, time",
      "# The shell backgrounds a child and exits, so the child is re-parented to PID 1.",
      "subprocess.run(['sh', '-c', 'sleep 0.2 & exit 0'], check=True)",
      "def others():",
      "    states = []",
      "    for pid in filter(str.isdigit, os.listdir('/proc')):",
      "        if int(pid) in (1, os.getpid()): continue",
      "        try: states.append(open(f'/proc/{pid}/stat').read().rsplit(') ', 1)[1][0])",
      "        except OSError: pass  # gone meanwhile (ENOENT, or ESRCH while it exits)",
      "    return states",
      "deadline = time.monotonic() + 30",
      "while others() and time.monotonic() < deadline: time.sleep(0.05)",
      "print('left:', others(), 'pid 1:', open('/proc/1/comm').read().strip())",
    ].join("\n");
    const job = await runPython({ command: pythonCode(script), entrypoint });
    expect(job.stdout).toBe("left: [] pid 1: tini\n");
    expect(job.exitCode).toBe(0);
  });

  it.each(entrypoints)("L6.6 a job that leaves children running (%s) ends with its own exit code, and they end with it", async (_, entrypoint) => {
    // The children would run for CHILDREN_S; the command itself ends at once.
    const CHILDREN_S = 600;
    const command = launch("sh", "-c", `sleep ${CHILDREN_S} & trap '' TERM; sleep ${CHILDREN_S} & echo started; exit 5`);
    const job = await runPython({ command, entrypoint, timeoutMs: (CHILDREN_S / 10) * 1000 });
    expect(job.stdout).toBe("started\n");
    expect(job.exitCode).toBe(5);
    expect(job.seconds).toBeLessThan(CHILDREN_S / 60);
  });
});
