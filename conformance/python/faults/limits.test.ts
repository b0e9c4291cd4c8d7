// Jobs that run into the container's limits: memory, the size of /tmp, and processes.
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

  it("L8.3 an install under --pids-limit 3, which leaves the installer no threads: exit 69, one line that names the limit", async () => {
    const job = await runPython(
      usingIndex(index, {
        code: await tgz({ "requirements.txt": "greeting==1.0.0\n", "main.py": "print('ran')\n" }),
        command: launch("python", "main.py"),
        configure: (c) => c.withPidsLimit(3),
      }),
    );
    expect(job.exitCode).toBe(69);
    expect(launcherLines(job.stderr)).toEqual([
      expect.stringMatching(
        /^launcher: installing requirements\.txt failed \(uv .+\): the installer could not start its processes or threads: the container's limits \(--pids-limit, --memory\) leave it too little room; raise them$/,
      ),
    ]);
    expect(job.stderr).not.toMatch(/Traceback/);
    expect(job.stdout).toBe("");
  });

  it("L8.3 a gzip'd bundle extracts and the job runs under --pids-limit 2 (tini and the launcher: no room for a thread)", async () => {
    const job = await runPython({
      code: await tgz({ "main.py": "print('ran')\n", "data.txt": "x".repeat(3 << 20) }),
      command: launch("python", "main.py"),
      configure: (c) => c.withPidsLimit(2),
    });
    expect(job.stdout).toBe("ran\n");
    expect(job.exitCode).toBe(0);
  });
});
