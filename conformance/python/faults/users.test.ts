// The python image's happy paths once more, as the most restricted orchestrator runs
// them: an arbitrary uid with no passwd entry, a read-only root filesystem, a writable
// tmpfs /tmp, /code mounted read-only and /outputs bind-mounted.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { scenarioBundle, tempDir, tgz, tree } from "../../support/fixtures.js";
import type { Job } from "../../support/job.js";
import { packageIndex } from "../../support/indexes.js";
import { project } from "../../support/projects.js";
import { launch, launcherLines, pythonCode, requirementsLog, restricted, runPython, usingIndex } from "../../support/python.js";

const index = packageIndex();

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
  { name: "a gzip-compressed tar bundle (L1.1)", code: () => tgz(hello), command: launch("python", "main.py"), stdout: "hello from the bundle\n" },
  {
    name: "a directory bundle, written beside (L1.2)",
    code: async () => ({ path: await tree({ ...hello, "data/x.txt": "x\n" }) }),
    command: launch("sh", "-c", "python main.py && echo written > new.txt && cat new.txt data/x.txt"),
    stdout: "hello from the bundle\nwritten\nx\n",
  },
  { name: "no bundle (L1.3)", command: pythonCode("import os; print(os.getcwd(), os.listdir())"), stdout: "/tmp/job []\n" },
  {
    name: "a bundle under one top-level directory (L1.4)",
    code: () => tgz({ "project/main.py": hello["main.py"] }),
    command: launch("sh", "-c", "pwd && python main.py"),
    stdout: "/tmp/job/project\nhello from the bundle\n",
  },
  { name: "links inside the bundle (L2.4)", code: () => scenarioBundle("links-inside"), command: launch("cat", "sym.txt", "hard.txt"), stdout: "A\nA\n" },
  {
    name: "requirements.txt, into /tmp/job-env with the defaults still importable (L3.1, L4.2)",
    code: () => tgz({ "requirements.txt": "greeting==1.0.0\n" }),
    command: pythonCode("import greeting, numpy, pandas, sys; print(greeting.hello(), sys.prefix)"),
    stdout: "hello from greeting 1.0.0 /tmp/job-env\n",
  },
  { name: "pyproject.toml (setuptools) (L3.2)", code: () => tgz(project("setuptools")), command: launch("jobtool"), stdout: "jobtool: hello from greeting 1.0.0\n" },
  { name: "pyproject.toml (hatchling) (L3.2)", code: () => tgz(project("hatchling")), command: launch("jobtool"), stdout: "jobtool: hello from greeting 1.0.0\n" },
  { name: "setup.cfg alone (L3.3)", code: () => tgz(setupCfg), command: launch("jobtool"), stdout: "jobtool: hello from greeting 1.0.0\n" },
  {
    name: "a script with inline metadata (L3.4)",
    code: () => tgz({ "main.py": '# /// script\n# dependencies = ["greeting==2.0.0"]\n# ///\nimport greeting\nprint(greeting.hello())\n' }),
    command: launch("python", "main.py"),
    stdout: "hello from greeting 2.0.0\n",
  },
  {
    name: "LAUNCHER_REQUIREMENTS=none (L3.7)",
    code: () => tgz({ "requirements.txt": "does-not-exist==1.0\n", ...hello }),
    env: { LAUNCHER_REQUIREMENTS: "none" },
    command: launch("python", "main.py"),
    stdout: "hello from the bundle\n",
  },
  {
    name: "pip as the installer (L4.3)",
    code: () => tgz({ "requirements.txt": "greeting==2.0.0\n" }),
    env: { LAUNCHER_INSTALLER: "pip" },
    command: sayHello,
    stdout: "hello from greeting 2.0.0\n",
  },
  { name: "a job's own exit code (L6.3)", code: () => tgz(hello), command: pythonCode("raise SystemExit(3)"), stdout: "", exitCode: 3 },
];

describe("python faults: an arbitrary uid, a read-only root and a read-only /code", () => {
  it.each(paths)("L1.5 as uid 12345 on a read-only root, the other clauses hold: $name", async ({ code, env, command, stdout, exitCode }) => {
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
    const log = requirementsLog(job);
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
