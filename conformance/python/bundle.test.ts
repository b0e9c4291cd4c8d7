import { readFile, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { create as createTar } from "tar";
import { describe, expect, it } from "vitest";
import { scenarioBundle, tempDir, tgz, tree } from "../support/fixtures.js";
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
    ["a gzip-compressed tar", () => tgz(hello), "python main.py", "hello from the bundle\n"],
    ["an uncompressed tar", () => plainTar(hello), "python main.py", "hello from the bundle\n"],
    ["a bzip2-compressed tar", () => scenarioBundle("duplicates.tbz2"), "python main.py", "second\n"],
    ["an xz-compressed tar", () => scenarioBundle("duplicates.txz"), "python main.py", "second\n"],
    ["a zip file, modes kept", () => scenarioBundle("zip"), "python main.py && ./tool.sh && cat data/ünï.txt", "hello from a zip\ntool\nx\n"],
  ])("L1.1 %s at /code is extracted and the command runs in it", async (_, make, command, stdout) => {
    const job = await runPython({ code: await make(), command: launch("sh", "-c", command) });
    expect(job.stdout).toBe(stdout);
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

  it.each([
    ["upload.tgz", () => tgz(hello), "hello from the bundle\n"],
    ["upload.zip", () => scenarioBundle("zip"), "hello from a zip\n"],
  ])("L1.2 a directory holding only an archive (%s) has that archive extracted", async (name, make, stdout) => {
    const dir = await tempDir();
    await writeFile(path.join(dir, name), await make());
    const job = await runPython({ code: { path: dir }, command: launch("python", "main.py") });
    expect(job.stdout).toBe(stdout);
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

  it("L1.4 a zip of one folder, with the __MACOSX folder that macOS adds, runs in that folder", async () => {
    const job = await runPython({ code: await scenarioBundle("zip-in-folder"), command: showCwd });
    expect(job.stdout).toBe("/tmp/job/project ['main.py']\n");
    expect(job.exitCode).toBe(0);
  });
});

describe("python: what is left out of a bundle", () => {
  const leftOut = (what: string) =>
    `launcher: left out of the bundle: ${what}; the image provides the environment, and the job makes its own caches`;

  it("L1.7 a project tarred with its .venv, __pycache__ and macOS ._ files runs in its folder", async () => {
    const job = await runPython({ code: await scenarioBundle("project-with-venv"), command: showCwd });
    expect(job.stdout).toBe("/tmp/job/proj ['main.py']\n");
    expect(launcherLines(job.stderr)).toContain(leftOut("proj/.venv/ (a virtual environment), 1 __pycache__ folder, 2 macOS ._ files"));
    expect(job.exitCode).toBe(0);
  });

  it("L1.7 a folder is a virtual environment when it holds pyvenv.cfg, wherever that comes in the archive", async () => {
    const job = await runPython({ code: await scenarioBundle("project-with-named-venv"), command: launch("sh", "-c", "find . | sort") });
    expect(job.stdout).toBe(".\n./main.py\n./tools\n./tools/run.sh\n");
    expect(launcherLines(job.stderr)).toContain(leftOut("tools/env/ (a virtual environment)"));
    expect(job.exitCode).toBe(0);
  });

  it("L1.7 a directory bundle leaves out the same", async () => {
    const dir = await tree({ "proj/main.py": "", "proj/.venv/pyvenv.cfg": "home = /usr/bin\n", "proj/pkg/__pycache__/x.pyc": "", "._proj": "" });
    await symlink("/usr/bin/python3", path.join(dir, "proj/.venv/python"));
    const job = await runPython({ code: { path: dir }, command: launch("sh", "-c", "pwd; find . | sort") });
    expect(job.stdout).toBe("/tmp/job/proj\n.\n./main.py\n./pkg\n");
    expect(launcherLines(job.stderr)).toContain(leftOut("proj/.venv/ (a virtual environment), 1 __pycache__ folder, 1 macOS ._ file"));
    expect(job.exitCode).toBe(0);
  });
});

describe("python: safe extraction", () => {
  it("L2.4 symlinks and hardlinks inside the bundle are extracted", async () => {
    const job = await runPython({ code: await scenarioBundle("links-inside"), command: launch("cat", "sym.txt", "hard.txt") });
    expect(job.stdout).toBe("A\nA\n");
    expect(job.exitCode).toBe(0);
  });
});
