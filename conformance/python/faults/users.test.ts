// The python image's happy paths once more, as the most restricted orchestrator runs
// them: an arbitrary uid with no passwd entry, a read-only root filesystem, a writable
// tmpfs /tmp, /code mounted read-only and /outputs bind-mounted.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scenarioBundle, tempDir, tgz, tree } from "../../support/fixtures.js";
import type { Job } from "../../support/job.js";
import { type PackageIndex, startPackageIndex } from "../../support/package-index.js";
import { project } from "../../support/projects.js";
import { launch, launcherLines, pythonCode, restricted, runPython, usingIndex } from "../../support/python.js";

let index: PackageIndex;
beforeAll(async () => {
  index = await startPackageIndex();
});
afterAll(() => index?.close());

const hello = { "main.py": 'print("hello from the bundle")\n' };
const sayHello = pythonCode("import greeting; print(greeting.hello())");
const setupCfg = {
  "setup.cfg": "[metadata]\nname = jobtool\nversion = 0.1.0\n\n[options]\npackages = jobtool\ninstall_requires = greeting==1.0.0\n\n[options.entry_points]\nconsole_scripts =\n    jobtool = jobtool:main\n",
  "jobtool/__init__.py": project("setuptools")["jobtool/__init__.py"]!,
};

interface HappyPath {
  name: string;
  code?: () => Promise<Job["code"]>;
  env?: Record<string, string>;
  command: string[];
  stdout: string;
  exitCode?: number;
}

const paths: HappyPath[] = [
  { name: "L1.1 a gzip-compressed tar bundle", code: () => tgz(hello), command: launch("python", "main.py"), stdout: "hello from the bundle\n" },
  {
    name: "L1.2 a directory bundle, written beside",
    code: async () => ({ path: await tree({ ...hello, "data/x.txt": "x\n" }) }),
    command: launch("sh", "-c", "python main.py && echo written > new.txt && cat new.txt data/x.txt"),
    stdout: "hello from the bundle\nwritten\nx\n",
  },
  { name: "L1.3 no bundle", command: pythonCode("import os; print(os.getcwd(), os.listdir())"), stdout: "/tmp/job []\n" },
  {
    name: "L1.4 a bundle under one top-level directory",
    code: () => tgz({ "project/main.py": hello["main.py"] }),
    command: launch("sh", "-c", "pwd && python main.py"),
    stdout: "/tmp/job/project\nhello from the bundle\n",
  },
  { name: "L2.4 links inside the bundle", code: () => scenarioBundle("links-inside"), command: launch("cat", "sym.txt", "hard.txt"), stdout: "A\nA\n" },
  {
    name: "L3.1 requirements.txt, with the defaults still importable",
    code: () => tgz({ "requirements.txt": "greeting==1.0.0\n" }),
    command: pythonCode("import greeting, numpy, pandas, sys; print(greeting.hello(), sys.prefix)"),
    stdout: "hello from greeting 1.0.0 /tmp/job-env\n",
  },
  { name: "L3.2 pyproject.toml (setuptools)", code: () => tgz(project("setuptools")), command: launch("jobtool"), stdout: "jobtool: hello from greeting 1.0.0\n" },
  { name: "L3.2 pyproject.toml (hatchling)", code: () => tgz(project("hatchling")), command: launch("jobtool"), stdout: "jobtool: hello from greeting 1.0.0\n" },
  { name: "L3.3 setup.cfg alone", code: () => tgz(setupCfg), command: launch("jobtool"), stdout: "jobtool: hello from greeting 1.0.0\n" },
  {
    name: "L3.4 a script with inline metadata",
    code: () => tgz({ "main.py": '# /// script\n# dependencies = ["greeting==2.0.0"]\n# ///\nimport greeting\nprint(greeting.hello())\n' }),
    command: launch("python", "main.py"),
    stdout: "hello from greeting 2.0.0\n",
  },
  {
    name: "L3.7 LAUNCHER_REQUIREMENTS=none",
    code: () => tgz({ "requirements.txt": "does-not-exist==1.0\n", ...hello }),
    env: { LAUNCHER_REQUIREMENTS: "none" },
    command: launch("python", "main.py"),
    stdout: "hello from the bundle\n",
  },
  {
    name: "L4.3 pip as the installer",
    code: () => tgz({ "requirements.txt": "greeting==2.0.0\n" }),
    env: { LAUNCHER_INSTALLER: "pip" },
    command: sayHello,
    stdout: "hello from greeting 2.0.0\n",
  },
  { name: "L6.3 a job's own exit code", code: () => tgz(hello), command: pythonCode("raise SystemExit(3)"), stdout: "", exitCode: 3 },
];

describe("python faults: an arbitrary uid, a read-only root and a read-only /code", () => {
  it.each(paths)("$name", async ({ code, env, command, stdout, exitCode }) => {
    const job = await runPython(usingIndex(index, restricted({ code: await code?.(), env, command })));
    expect(job.stderr).not.toMatch(/Traceback/);
    expect(job.stdout).toBe(stdout);
    expect(job.exitCode).toBe(exitCode ?? 0);
  });

  it("L5.2 the log is written to a bind-mounted /outputs", async () => {
    const job = await runPython(
      usingIndex(index, restricted({ code: await tgz({ "requirements.txt": "greeting==1.0.0\n" }), outputs: true, command: sayHello })),
    );
    expect(job.exitCode).toBe(0);
    const log = job.outputs["requirements.log"]?.toString() ?? "";
    expect(log).toMatch(/^== \S+Z detect: requirements.txt \(found requirements.txt\)$/m);
    expect(log).toMatch(/^== \S+Z run: \/opt\/venv\/bin\/uv pip install --dry-run --python \/opt\/venv\/bin\/python -r requirements.txt$/m);
    expect(log).toMatch(/^== \S+Z run: \/opt\/venv\/bin\/uv pip install --python \/tmp\/job-env\/bin\/python -r requirements.txt -c \/tmp\/job\/.launcher-constraints.txt$/m);
    expect(log).toMatch(/^== \S+Z exit 0 after /m);
  });
});

describe("python faults: mounts the job's uid cannot use", () => {
  it.each([
    { name: "a bundle file", make: async (dir: string) => writeFile(path.join(dir, "code"), await tgz(hello), { mode: 0o600 }), unreadable: "/code" },
    {
      name: "a bundle directory",
      make: async (dir: string) => {
        await mkdir(path.join(dir, "code"), { mode: 0o700 });
        await writeFile(path.join(dir, "code", "main.py"), hello["main.py"]);
      },
      unreadable: "/code",
    },
  ])("L1.5 $name that uid 12345 cannot read is refused (65) with one line", async ({ make, unreadable }) => {
    const dir = await tempDir();
    await make(dir);
    const job = await runPython(
      restricted({
        command: launch("python", "main.py"),
        configure: (c) => c.withBindMounts([{ source: path.join(dir, "code"), target: "/code", mode: "ro" }]),
      }),
    );
    expect(job.exitCode).toBe(65);
    expect(launcherLines(job.stderr)).toEqual([
      `launcher: cannot read ${unreadable} (Permission denied); the bundle must be readable by the job's uid 12345`,
    ]);
    expect(job.stdout).toBe("");
  });
});
