// The job templates jobs/python.yaml and jobs/duckdb.yaml, for Bacalhau's current
// release, end to end: `bacalhau job run -E '^JOB_' jobs/....yaml` on a cluster of an
// orchestrator and two compute nodes. The images keep their entrypoint (tini).
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, inject, it } from "vitest";
import { type Endpoint, dataUrl, outcome, runTemplate as run, stopTime, untilRunning } from "../support/bacalhau.js";
import { tempDir, tgz } from "../support/fixtures.js";

const current = (): Endpoint => inject("current");
const runTemplate = (template: "python" | "duckdb", vars: Record<string, string>, wait = true) => run(current(), template, vars, wait);

describe("orchestrator: job templates for the current release", () => {
  it("B2.1 jobs/python.yaml: the command after the launcher's -- under tini, stdout, stderr, exit code, /outputs and environment variables", async () => {
    const code = await tgz({
      "main.py": [
        "import os, sys",
        "print('hello', os.environ['GREETING'], sys.argv[1:], open('/proc/1/comm').read().strip())",
        "print('to stderr', file=sys.stderr)",
        "open('/outputs/result.txt', 'w').write('42\\n')",
        "sys.exit(3)",
        "",
      ].join("\n"),
    });
    const id = await runTemplate("python", {
      JOB_CODE: dataUrl(code),
      JOB_COMMAND: JSON.stringify(["python", "main.py", "a b", "$HOME"]),
      JOB_ENV: JSON.stringify(["GREETING=from, a template"]),
    });
    const done = await outcome(current(), id);
    expect(done.stdout).toBe("hello from, a template ['a b', '$HOME'] tini\n");
    expect(done.stderr).toMatch(/^to stderr$/m);
    expect(done.exitCode).toBe(3);
    expect(done.outputs["result.txt"]).toBe("42\n");
    expect(done.outputs["requirements.log"]).toMatch(/detect: nothing to install/);
  });

  it("B2.1 jobs/python.yaml: a project folder with modules runs in that folder", async () => {
    const code = await tgz({ "project/main.py": "import helper\nprint(helper.GREETING)\n", "project/helper.py": "GREETING = 'hi'\n" });
    const done = await outcome(current(), await runTemplate("python", { JOB_CODE: dataUrl(code), JOB_COMMAND: '["python", "main.py"]' }), false);
    expect(done.stdout).toBe("hi\n");
    expect(done.exitCode).toBe(0);
  });

  it("B2.2 bacalhau job stop ends a running template job's container within seconds", async () => {
    const code = await tgz({ "main.py": "import time\ntime.sleep(600)\n" });
    const id = await runTemplate("python", { JOB_CODE: dataUrl(code), JOB_COMMAND: '["python", "main.py"]' }, false);
    await untilRunning(id);
    // The job sleeps for 600 s: only the stop ends it within the bound.
    expect(await stopTime(current(), id)).toBeLessThan(30_000);
  });

  it("B2.3 jobs/duckdb.yaml: a query over /inputs from a file under /code, with COPY ... TO /outputs", async () => {
    const inputs = await tempDir();
    await writeFile(path.join(inputs, "data.csv"), "city,people\nLisbon,3\nPorto,2\nLisbon,4\n");
    const sql = "COPY (SELECT city, sum(people) AS people FROM '/inputs/data.csv' GROUP BY city ORDER BY city) TO '/outputs/cities.csv' (HEADER);\nSELECT count(*) AS n FROM '/inputs/data.csv';\n";
    const id = await runTemplate("duckdb", {
      JOB_CODE: dataUrl(await tgz({ "query.sql": sql })),
      JOB_INPUTS: inputs,
      JOB_ARGS: '["-csv", "-f", "/code/query.sql"]',
    });
    const done = await outcome(current(), id);
    expect(done.stderr).toBe("");
    expect(done.stdout).toBe("n\n3\n");
    expect(done.exitCode).toBe(0);
    expect(done.outputs["cities.csv"]).toBe("city,people\nLisbon,7\nPorto,2\n");
  });
});
