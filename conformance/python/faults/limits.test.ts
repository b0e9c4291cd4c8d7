// Jobs that run into the container's limits: memory, and the size of /tmp.
import { describe, expect, it } from "vitest";
import { tgz } from "../../support/fixtures.js";
import { packageIndex } from "../../support/indexes.js";
import { launch, launcherLines, requirementsLog, runPython, usingIndex } from "../../support/python.js";

const index = packageIndex();

describe("python faults: container limits", () => {
  it("L8.1 a job over --memory 256m is OOM-killed (137), and the log written so far is intact", async () => {
    const hog = "import greeting; print('installed', flush=True); hog = [b'x' * (64 << 20) for _ in range(64)]";
    const job = await runPython(
      usingIndex(index, {
        code: await tgz({ "requirements.txt": "greeting==1.0.0\n" }),
        outputs: { "requirements.log": "an earlier line\n" },
        command: launch("python", "-c", hog),
        configure: (c) => c.withMemoryLimit(256 << 20),
      }),
    );
    expect(job.exitCode).toBe(137);
    expect(job.oomKilled).toBe(true);
    expect(job.stdout).toBe("installed\n");
    const log = requirementsLog(job);
    expect(log.startsWith("an earlier line\n")).toBe(true);
    // Every step: the resolution against the image's environment, then the install.
    expect(log).toMatch(/^== \S+Z detect: requirements.txt \(found requirements.txt\)\n(== \S+Z run: .*\n(std(out|err)\| .*\n)*== \S+Z exit 0 after \d+\.\d\d s\n){2}$/m);
  });

  it("L8.2 a /tmp too small for the install: exit 73, one line that says the disk filled up", async () => {
    const job = await runPython(
      usingIndex(index, {
        code: await tgz({ "requirements.txt": "cext==0.1.0\n" }),
        command: launch("echo", "ran"),
        configure: (c) => c.withTmpFs({ "/tmp": "rw,exec,size=2m" }),
      }),
    );
    expect(job.exitCode).toBe(73);
    expect(job.stderr).toMatch(/No space left on device/);
    expect(launcherLines(job.stderr)).toEqual([
      "launcher: installing requirements.txt failed (uv exited 1): the disk filled up (the installer's cache and builds are in /tmp); give the job more space",
    ]);
    expect(job.stdout).toBe("");
  });
});
