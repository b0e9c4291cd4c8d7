import { describe, expect, it } from "vitest";
import { tgz } from "../support/fixtures.js";
import { pythonImage } from "../support/images.js";
import { runJob } from "../support/job.js";

const launch = (...command: string[]) => ["/build/launcher.py", "--", ...command];

describe("python: hello bundle", () => {
  it("runs main.py from a tgz at /code and prints its greeting", async () => {
    const code = await tgz({ "main.py": 'print("hello from the bundle")\n' });
    const job = await runJob({ image: pythonImage(), code, command: launch("python", "main.py") });
    expect(job.stderr).not.toMatch(/Traceback/);
    expect(job.stdout).toBe("hello from the bundle\n");
    expect(job.exitCode).toBe(0);
  });

  it("passes the command's exit code through", async () => {
    const code = await tgz({ "main.py": "import sys\nprint('failing on purpose')\nsys.exit(3)\n" });
    const job = await runJob({ image: pythonImage(), code, command: launch("python", "main.py") });
    expect(job.stdout).toBe("failing on purpose\n");
    expect(job.exitCode).toBe(3);
  });
});
