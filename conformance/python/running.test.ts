import { describe, expect, it } from "vitest";
import { tgz } from "../support/fixtures.js";
import { launch, runPython } from "../support/python.js";

const py = (code: string) => launch("python", "-c", code);

describe("python: running the job", () => {
  it("L6.1 runs in the working directory with the environment's python first on PATH", async () => {
    const code = await tgz({ "project/main.py": "import os, shutil, sys\nprint(sys.executable, shutil.which('python'), os.getcwd())\n" });
    const job = await runPython({ code, command: launch("python", "main.py") });
    expect(job.stdout).toBe("/opt/venv/bin/python /opt/venv/bin/python /tmp/job/project\n");
    expect(job.exitCode).toBe(0);
  });

  it("L6.2 stdout and stderr pass through unmixed and unbuffered", async () => {
    const script = [
      "import os, sys",
      "print('out 1'); print('err 1', file=sys.stderr); print('out 2')",
      "os.kill(os.getpid(), 9)",
    ].join("\n");
    const job = await runPython({ command: py(script) });
    expect(job.stdout).toBe("out 1\nout 2\n");
    expect(job.stderr).toContain("err 1\n");
    expect(job.stderr).not.toContain("out");
  });

  it.each([0, 3, 255])("L6.3 exit code %i passes through", async (code) => {
    const job = await runPython({ command: py(`import sys; sys.exit(${code})`) });
    expect(job.exitCode).toBe(code);
  });

  it.each([
    ["SIGKILL", 9],
    ["SIGTERM", 15],
    ["SIGINT", 2],
  ])("L6.3 a job that dies of %s exits 128+%i", async (signal, number) => {
    const script = `import os, signal\nif signal.${signal} != signal.SIGKILL: signal.signal(signal.${signal}, signal.SIG_DFL)\nos.kill(os.getpid(), signal.${signal})`;
    const job = await runPython({ command: py(script) });
    expect(job.exitCode).toBe(128 + number);
  });

  it.each([
    {
      name: "its handler runs and its exit code is kept",
      script: [
        "import signal, sys, time",
        "def stop(*_): print('handled SIGTERM', flush=True); sys.exit(42)",
        "signal.signal(signal.SIGTERM, stop)",
        "print('ready', flush=True)",
        "time.sleep(600)",
      ].join("\n"),
      exitCode: 42,
      stdout: "ready\nhandled SIGTERM\n",
    },
    {
      name: "without a handler it ends by the default action",
      script: "import time\nprint('ready', flush=True)\ntime.sleep(600)",
      exitCode: 143,
      stdout: "ready\n",
    },
  ])("L6.4 docker stop reaches the job at once: $name", async ({ script, exitCode, stdout }) => {
    let stopSeconds = Number.NaN;
    const job = await runPython({
      command: py(script),
      waitFor: /ready/,
      whileRunning: async (container) => {
        const started = performance.now();
        await container.stop({ t: 30 });
        stopSeconds = (performance.now() - started) / 1000;
      },
    });
    expect(job.exitCode).toBe(exitCode);
    expect(job.stdout).toBe(stdout);
    // The engine would kill after 30 s; a job that got the signal ends long before.
    expect(stopSeconds).toBeLessThan(10);
  });
});
