// The custom job types of Bacalhau v1.2.1-v1.5.0 (`bacalhau exec python|duckdb`),
// end to end: the translator turns them into docker jobs on the images with
// Entrypoint [] (so tini is not there) and the launcher's `--`, the python type
// behind Bacalhau's HTTP gateway. `exec python ... -- ARGS` runs `python ARGS`.
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, inject, it } from "vitest";
import { bacalhau, type Endpoint, jobId, outcome, stopTime, untilRunning } from "../support/bacalhau.js";
import { tempDir, writeFiles } from "../support/fixtures.js";

const legacy = (): Endpoint => inject("legacy");

/** Submits a custom job from a folder holding its code, and waits for it. */
async function exec(kind: "python" | "duckdb", dir: string, code: string, args: string[], wait = true): Promise<string> {
  const flags = ["--code", code, "-p", "local", "--id-only", `--wait=${wait}`];
  return jobId(await bacalhau(legacy(), ["exec", kind, ...flags, "--", ...args], { cwd: dir }));
}

const job = [
  "import sys",
  "print('hello from a job')",
  "print('to stderr', file=sys.stderr)",
  "open('/outputs/result.txt', 'w').write('42\\n')",
  "sys.exit(3)",
  "",
].join("\n");

// One at a time: the legacy node does not queue jobs, and fails one it has no room for.
describe.sequential("orchestrator: Bacalhau's custom job types", () => {
  it("B1.1 a python job with a small file as --code: stdout, stderr, exit code and /outputs with requirements.log come back", async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, "main.py"), job);
    const done = await outcome(legacy(), await exec("python", dir, "main.py", ["main.py"]));
    expect(done.exitCode).toBe(3);
    expect(done.stdout).toBe("hello from a job\n");
    expect(done.stderr).toMatch(/^to stderr$/m);
    expect(done.outputs["result.txt"]).toBe("42\n");
    expect(done.outputs["requirements.log"]).toMatch(/detect: nothing to install/);
  });

  it("B1.2 a directory as --code runs in that directory, with its modules", async () => {
    const dir = await tempDir();
    await writeFiles(path.join(dir, "project"), {
      "main.py": "import helper\nprint(helper.GREETING)\n",
      "helper.py": "GREETING = 'hello from a module'\n",
    });
    const done = await outcome(legacy(), await exec("python", dir, "project", ["main.py"]), false);
    expect(done.stderr).not.toMatch(/Traceback/);
    expect(done.stdout).toBe("hello from a module\n");
    expect(done.exitCode).toBe(0);
  });

  it("B1.2 a single file over 512 bytes, which arrives as /code/main.py/main.py, runs", async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, "main.py"), `${"# padding\n".repeat(80)}print('hello from a large file')\n`);
    const done = await outcome(legacy(), await exec("python", dir, "main.py", ["main.py"]), false);
    expect(done.stdout).toBe("hello from a large file\n");
    expect(done.exitCode).toBe(0);
  });

  it("B1.3 bacalhau job stop ends a running python job's container within seconds", async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, "main.py"), "import time\nprint('started', flush=True)\ntime.sleep(600)\n");
    const id = await exec("python", dir, "main.py", ["main.py"], false);
    // Stop only once the job's container runs (a stop while the gateway starts is lost).
    await untilRunning(id);
    // The job sleeps for 600 s: only the stop ends it within the bound.
    expect(await stopTime(legacy(), id)).toBeLessThan(30_000);
  });

  it("B1.4 an orphaned process is reaped: no zombie is left, though the job is PID 1's child", async () => {
    const dir = await tempDir();
    const script = [
      "import os, subprocess, time",
      // A child that starts a grandchild and exits: the grandchild is orphaned, ends, and
      // only PID 1 can reap it.
      "subprocess.run(['sh', '-c', 'sleep 0.2 & exit 0'], check=True)",
      "time.sleep(1.5)",
      "states = [open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()[0] for p in os.listdir('/proc') if p.isdigit()]",
      "print('pid1', open('/proc/1/comm').read().strip(), 'zombies', states.count('Z'))",
      "",
    ].join("\n");
    await writeFile(path.join(dir, "main.py"), script);
    const done = await outcome(legacy(), await exec("python", dir, "main.py", ["main.py"]), false);
    expect(done.stdout).toBe("pid1 tini zombies 0\n");
    expect(done.exitCode).toBe(0);
  });

  it("B1.5 a duckdb job runs a query from a file under --code, and COPY ... TO /outputs comes back", async () => {
    const dir = await tempDir();
    const sql = "COPY (SELECT range AS n FROM range(3)) TO '/outputs/numbers.csv' (HEADER);\nSELECT 42 AS answer;\n";
    await writeFile(path.join(dir, "query.sql"), sql);
    const done = await outcome(legacy(), await exec("duckdb", dir, "query.sql", ["-csv", "-f", "/code/query.sql"]));
    expect(done.stderr).toBe("");
    expect(done.stdout).toBe("answer\n42\n");
    expect(done.exitCode).toBe(0);
    expect(done.outputs["numbers.csv"]).toBe("n\n0\n1\n2\n");
  });
});
