import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { create as createTar } from "tar";
import { describe, expect, it } from "vitest";
import { scenarioTar, tempDir, tgz, tree } from "../support/fixtures.js";
import { launch, launcherLines, runPython } from "../support/python.js";

const showCwd = launch("python", "-c", "import os; print(os.getcwd(), sorted(os.listdir()))");
const hello = { "main.py": 'print("hello from the bundle")\n' };

async function plainTar(files: Record<string, string>): Promise<Buffer> {
  const root = await tree(files);
  const out = path.join(await tempDir(), "bundle.tar");
  await createTar({ cwd: root, portable: true, file: out }, ["."]);
  return readFile(out);
}

describe("python: the code bundle", () => {
  it.each([
    ["gzip-compressed", () => tgz(hello)],
    ["uncompressed", () => plainTar(hello)],
  ])("L1.1 a %s tar at /code is extracted and the command runs in it", async (_, make) => {
    const job = await runPython({ code: await make(), command: launch("python", "main.py") });
    expect(job.stdout).toBe("hello from the bundle\n");
    expect(job.exitCode).toBe(0);
  });

  it("L1.2 a directory at /code is the bundle, and the job may write beside its files", async () => {
    const dir = await tree({ ...hello, "data/x.txt": "x\n" });
    const job = await runPython({
      code: { path: dir },
      command: launch("sh", "-c", "python main.py && echo written > new.txt && cat new.txt data/x.txt"),
    });
    expect(job.stdout).toBe("hello from the bundle\nwritten\nx\n");
    expect(job.exitCode).toBe(0);
  });

  it("L1.2 a directory holding only an archive has that archive extracted", async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, "upload.tgz"), await tgz(hello));
    const job = await runPython({ code: { path: dir }, command: launch("python", "main.py") });
    expect(job.stdout).toBe("hello from the bundle\n");
    expect(job.exitCode).toBe(0);
  });

  it("L1.3 without /code the command runs in an empty directory, and one line says so", async () => {
    const job = await runPython({ command: showCwd });
    expect(job.stdout).toBe("/tmp/job []\n");
    expect(launcherLines(job.stderr)).toContain("launcher: no code bundle at /code; running in the empty directory /tmp/job");
    expect(job.exitCode).toBe(0);
  });

  it.each([
    ["one top-level directory", { "project/main.py": "", "project/lib/x.py": "" }, "/tmp/job/project ['lib', 'main.py']"],
    ["one directory beside __MACOSX", { "project/main.py": "", "__MACOSX/._main.py": "" }, "/tmp/job/project ['main.py']"],
    ["files at the top", { "main.py": "", "lib/x.py": "" }, "/tmp/job ['lib', 'main.py']"],
    ["a directory and a file", { "project/main.py": "", "README.md": "" }, "/tmp/job ['README.md', 'project']"],
  ])("L1.4 working directory with %s", async (_, files, expected) => {
    const job = await runPython({ code: await tgz(files), command: showCwd });
    expect(job.stdout).toBe(`${expected}\n`);
  });
});

describe("python: safe extraction", () => {
  it("L2.4 symlinks and hardlinks inside the bundle are extracted", async () => {
    const job = await runPython({ code: await scenarioTar("links-inside"), command: launch("cat", "sym.txt", "hard.txt") });
    expect(job.stdout).toBe("A\nA\n");
    expect(job.exitCode).toBe(0);
  });
});
