// /outputs that the launcher cannot write: read-only, not the job's, full, not a
// directory. The launcher says so in one line and goes on; the job still runs; and
// nothing already in /outputs is touched.
import { chmod, lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { tempDir, tgz } from "../../support/fixtures.js";
import { packageIndex } from "../../support/indexes.js";
import { launch, launcherLines, runPython, usingIndex } from "../../support/python.js";
import { smallVolume } from "../../support/volumes.js";

const index = packageIndex();

const wantsGreeting = () => tgz({ "requirements.txt": "greeting==1.0.0\n" });
const sayHello = launch("python", "-c", "import greeting; print(greeting.hello())");
const earlier = "written by an earlier step\n";

/** A host folder holding one earlier file, with the given mode. */
async function outputsFolder(mode: number): Promise<string> {
  const dir = path.join(await tempDir(), "outputs");
  await mkdir(dir);
  await writeFile(path.join(dir, "earlier.txt"), earlier, { mode: 0o644 });
  await chmod(dir, mode);
  return dir;
}

describe("python faults: /outputs", () => {
  it.each([
    { name: "mounted read-only", mode: 0o777, bind: "ro" as const, user: undefined, reason: "Read-only file system" },
    { name: "not writable by the job's uid", mode: 0o755, bind: "rw" as const, user: "12345:12345", reason: "Permission denied" },
  ])("L5.4 /outputs $name: one line, the job runs, the earlier file is intact", async ({ mode, bind, user, reason }) => {
    const dir = await outputsFolder(mode);
    const job = await runPython(
      usingIndex(index, {
        code: await wantsGreeting(),
        user,
        command: sayHello,
        configure: (c) => c.withBindMounts([{ source: dir, target: "/outputs", mode: bind }]),
      }),
    );
    expect(job.stdout).toBe("hello from greeting 1.0.0\n");
    expect(job.exitCode).toBe(0);
    expect(launcherLines(job.stderr)).toContain(
      `launcher: cannot write /outputs/requirements.log (${reason}); going on without the log`,
    );
    expect(await readdir(dir)).toEqual(["earlier.txt"]);
    expect(await readFile(path.join(dir, "earlier.txt"), "utf8")).toBe(earlier);
  });

  it("L5.4 /outputs full: one line, the job runs and fails by itself, the earlier file is intact", async () => {
    const volume = await smallVolume(64 << 10);
    try {
      // Fill the volume to the last byte with a file whose digest is kept.
      const before = await volume.sh("head -c 65536 /dev/urandom > /volume/earlier.bin && sha256sum /volume/earlier.bin");
      const job = await runPython(
        usingIndex(index, {
          code: await wantsGreeting(),
          command: launch("python", "-c", "import greeting; print(greeting.hello()); open('/outputs/result.bin', 'wb').write(b'x' * 100000)"),
          configure: (c) => c.withBindMounts([{ source: volume.name, target: "/outputs" }]),
        }),
      );
      expect(launcherLines(job.stderr)).toContain(
        "launcher: cannot write /outputs/requirements.log any more (No space left on device); going on without the log",
      );
      expect(job.stdout).toBe("hello from greeting 1.0.0\n");
      expect(job.stderr).toMatch(/OSError: \[Errno 28\] No space left on device/);
      expect(job.exitCode).toBe(1);
      expect(await volume.sh("sha256sum /volume/earlier.bin")).toBe(before);
    } finally {
      await volume.remove();
    }
  });

  it("L5.4 /outputs that is a file, not a directory: one line, the job runs, the file is intact", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "outputs");
    await writeFile(file, earlier, { mode: 0o644 });
    const job = await runPython(
      usingIndex(index, {
        code: await wantsGreeting(),
        command: sayHello,
        configure: (c) => c.withBindMounts([{ source: file, target: "/outputs", mode: "rw" }]),
      }),
    );
    expect(job.stdout).toBe("hello from greeting 1.0.0\n");
    expect(job.exitCode).toBe(0);
    expect(launcherLines(job.stderr)).toContain("launcher: /outputs is not a directory; going on without the log");
    expect(await readFile(file, "utf8")).toBe(earlier);
  });

  it("L5.4 a FIFO at /outputs/requirements.log: one line, the launcher does not wait on it, the job runs", async () => {
    const dir = await outputsFolder(0o777);
    await execa("mkfifo", [path.join(dir, "requirements.log")]);
    const job = await runPython(
      usingIndex(index, {
        code: await wantsGreeting(),
        command: sayHello,
        configure: (c) => c.withBindMounts([{ source: dir, target: "/outputs", mode: "rw" }]),
        timeoutMs: 60_000,
      }),
    );
    expect(launcherLines(job.stderr)).toContain("launcher: /outputs/requirements.log is a FIFO, not a regular file; going on without the log");
    expect(job.stdout).toBe("hello from greeting 1.0.0\n");
    expect(job.exitCode).toBe(0);
    expect((await lstat(path.join(dir, "requirements.log"))).isFIFO()).toBe(true);
  });

  it("L5.4 a symbolic link at /outputs/requirements.log: one line, the file it names is left as it was", async () => {
    const dir = await outputsFolder(0o777);
    await symlink("earlier.txt", path.join(dir, "requirements.log"));
    const job = await runPython(
      usingIndex(index, {
        code: await wantsGreeting(),
        command: sayHello,
        configure: (c) => c.withBindMounts([{ source: dir, target: "/outputs", mode: "rw" }]),
      }),
    );
    expect(launcherLines(job.stderr)).toContain(
      "launcher: /outputs/requirements.log is a symbolic link, not a regular file; going on without the log",
    );
    expect(job.stdout).toBe("hello from greeting 1.0.0\n");
    expect(job.exitCode).toBe(0);
    expect(await readFile(path.join(dir, "earlier.txt"), "utf8")).toBe(earlier);
    expect(await readlink(path.join(dir, "requirements.log"))).toBe("earlier.txt");
  });
});
