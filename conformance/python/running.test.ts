import { describe, expect, it } from "vitest";
import { tgz } from "../support/fixtures.js";
import { launch, pythonCode, runPython } from "../support/python.js";


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
    const job = await runPython({ command: pythonCode(script) });
    expect(job.stdout).toBe("out 1\nout 2\n");
    expect(job.stderr).toContain("err 1\n");
    expect(job.stderr).not.toContain("out");
  });

  it.each([0, 3, 255])("L6.3 exit code %i passes through", async (code) => {
    const job = await runPython({ command: pythonCode(`import sys; sys.exit(${code})`) });
    expect(job.exitCode).toBe(code);
  });
});
