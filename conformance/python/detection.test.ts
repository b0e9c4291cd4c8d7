import { describe, expect, it } from "vitest";
import { tgz } from "../support/fixtures.js";
import { packageIndex } from "../support/indexes.js";
import { backends, project } from "../support/projects.js";
import { launch, launcherLines, requirementsLog, runPython, usingIndex } from "../support/python.js";

const index = packageIndex();
const sayHello = launch("python", "-c", "import greeting; print(greeting.hello())");

describe("python: detecting the requirements method", () => {
  it("L3.1 requirements.txt is installed as pip reads it: -r, markers, and an sdist with a C extension", async () => {
    const code = await tgz({
      "requirements.txt": ["-r base.txt", "cext==0.1.0 ; python_version >= '3.8'", "absent==9.9 ; python_version < '3'", ""].join("\n"),
      "base.txt": "greeting==1.0.0\n",
    });
    const command = launch("python", "-c", "import greeting, cext; print(greeting.hello(), cext.add(2, 3))");
    const job = await runPython(usingIndex(index, { code, command, outputs: true }));
    expect(job.stderr).not.toMatch(/Traceback/);
    expect(job.stdout).toBe("hello from greeting 1.0.0 5\n");
    expect(job.exitCode).toBe(0);
    expect(requirementsLog(job)).toMatch(/detect: requirements.txt \(found requirements.txt\)/);
  });

  it.each(Object.keys(backends))("L3.2 pyproject.toml built by %s is installed with its console script", async (backend) => {
    const job = await runPython(usingIndex(index, { code: await tgz(project(backend)), command: launch("jobtool") }));
    expect(job.stderr).not.toMatch(/Traceback/);
    expect(job.stdout).toBe("jobtool: hello from greeting 1.0.0\n");
    expect(job.exitCode).toBe(0);
  });

  it("L3.2 requirements.txt wins over pyproject.toml, and the log says pyproject.toml was not used", async () => {
    const code = await tgz({ ...project("setuptools"), "requirements.txt": "greeting==2.0.0\n" });
    const job = await runPython(usingIndex(index, { code, command: sayHello, outputs: true }));
    expect(job.stdout).toBe("hello from greeting 2.0.0\n");
    expect(requirementsLog(job)).toMatch(/detect: requirements.txt \(found requirements.txt; not used: pyproject.toml/);
  });

  it.each([
    ["setup.py", { "setup.py": 'from setuptools import setup\nsetup(name="jobtool", version="0.1.0", packages=["jobtool"], install_requires=["greeting==1.0.0"], entry_points={"console_scripts": ["jobtool=jobtool:main"]})\n' }],
    ["setup.cfg", {
      "setup.cfg": "[metadata]\nname = jobtool\nversion = 0.1.0\n\n[options]\npackages = jobtool\ninstall_requires = greeting==1.0.0\n\n[options.entry_points]\nconsole_scripts =\n    jobtool = jobtool:main\n",
    }],
  ])("L3.3 a project declared by %s is installed with its console script", async (_, files) => {
    const code = await tgz({ ...files, "jobtool/__init__.py": project("setuptools")["jobtool/__init__.py"]! });
    const job = await runPython(usingIndex(index, { code, command: launch("jobtool") }));
    expect(job.stderr).not.toMatch(/Traceback/);
    expect(job.stdout).toBe("jobtool: hello from greeting 1.0.0\n");
    expect(job.exitCode).toBe(0);
  });

  const script = '# /// script\n# dependencies = ["greeting==2.0.0"]\n# ///\nimport greeting\nprint(greeting.hello())\n';
  it("L3.4 the one script with inline metadata gets its dependencies", async () => {
    const code = await tgz({ "main.py": script, "helper.py": "X = 1\n" });
    const job = await runPython(usingIndex(index, { code, command: launch("python", "main.py") }));
    expect(job.stdout).toBe("hello from greeting 2.0.0\n");
    expect(launcherLines(job.stderr)).toContainEqual(expect.stringMatching(/^launcher: installed inline script metadata of main.py with uv: 1 packages in/));
    expect(job.exitCode).toBe(0);
  });

  it.each([
    ["two scripts with metadata", { "a.py": script, "b.py": script }, /several scripts carry inline metadata \(a.py, b.py\)/],
    ["a block that is not TOML", { "main.py": "# /// script\n# dependencies = [\n# ///\n" }, /main.py: the '# \/\/\/ script' block is not valid TOML/],
  ])("L3.4 %s stops the launcher (78)", async (_, files, message) => {
    const job = await runPython(usingIndex(index, { code: await tgz(files), command: launch("echo", "ran") }));
    expect(job.exitCode).toBe(78);
    expect(launcherLines(job.stderr)).toEqual([expect.stringMatching(message)]);
    expect(job.stdout).toBe("");
  });

  it("L3.4 a script whose block declares no dependencies installs nothing, says so, and runs", async () => {
    const code = await tgz({ "main.py": "# /// script\n# dependencies = []\n# ///\nprint('ran')\n" });
    const job = await runPython({ code, command: launch("python", "main.py") });
    expect(job.stdout).toBe("ran\n");
    expect(launcherLines(job.stderr)).toEqual(["launcher: nothing to install (main.py declares no dependencies in its inline metadata)"]);
    expect(job.exitCode).toBe(0);
  });

  const application = (table: string) => ({
    "pyproject.toml": `[project]\nname = "app"\nversion = "0.1.0"\ndependencies = ["greeting==2.0.0"]\n${table}`,
    "main.py": "import greeting, helpers\nprint(greeting.hello(), helpers.X)\n",
    "helpers.py": "X = 1\n",
    "scripts/other.py": "",
  });
  it.each([
    ["no [build-system] (uv init --app)", ""],
    ["[tool.uv] package = false", '\n[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n[tool.uv]\npackage = false\n'],
    ["Poetry's package-mode = false", '\n[build-system]\nrequires = ["poetry-core"]\nbuild-backend = "poetry.core.masonry.api"\n\n[tool.poetry]\npackage-mode = false\n'],
  ])("L3.9 an application (%s) gets its dependencies, and is not built", async (_, table) => {
    const job = await runPython(usingIndex(index, { code: await tgz(application(table)), command: launch("python", "main.py"), outputs: true }));
    expect(job.stdout).toBe("hello from greeting 2.0.0 1\n");
    expect(launcherLines(job.stderr)).toEqual([
      expect.stringMatching(/^launcher: installed dependencies of the application in pyproject.toml with uv: 1 packages in \d+\.\d s$/),
    ]);
    expect(requirementsLog(job)).toMatch(/found pyproject.toml; an application, not built\)/);
    expect(job.exitCode).toBe(0);
  });

  it("L3.10 LAUNCHER_EXTRAS and LAUNCHER_GROUPS add an application's extras and dependency groups", async () => {
    const table = '\n[project.optional-dependencies]\nolder = ["needs-greeting-one"]\n\n[dependency-groups]\nnative = ["cext==0.1.0"]\nall = [{include-group = "native"}]\n';
    const files = { ...application(table), "pyproject.toml": application(table)["pyproject.toml"].replace('"greeting==2.0.0"', '"greeting"') };
    const command = launch("python", "-c", "import greeting, cext, needs_greeting_one; print(greeting.hello(), cext.add(1, 2))");
    const job = await runPython(usingIndex(index, { code: await tgz(files), env: { LAUNCHER_EXTRAS: "older", LAUNCHER_GROUPS: "all" }, command }));
    expect(job.stdout).toBe("hello from greeting 1.0.0 3\n");
    expect(job.exitCode).toBe(0);
  });

  it("L3.10 an extra the project does not declare: exit 78, naming those it does", async () => {
    const job = await runPython({ code: await tgz(application("")), env: { LAUNCHER_EXTRAS: "gpu" }, command: launch("echo", "ran") });
    expect(job.exitCode).toBe(78);
    expect(launcherLines(job.stderr)).toEqual(["launcher: LAUNCHER_EXTRAS names gpu, which pyproject.toml does not declare (it declares: none)"]);
  });

  it.each([
    ["uv", "does not have an extra named `gpu`"],
    ["pip", "does not provide the extra 'gpu'"],
  ])("L3.10 an extra that a setup.py project does not declare, which only the installer can tell (%s): exit 78, quoting the installer's word, nothing installed", async (installer, warning) => {
    const setupPy = 'from setuptools import setup\nsetup(name="jobtool", version="0.1.0", packages=["jobtool"], install_requires=["greeting==1.0.0"], extras_require={"older": ["needs-greeting-one"]})\n';
    const code = await tgz({ "setup.py": setupPy, "jobtool/__init__.py": project("setuptools")["jobtool/__init__.py"]! });
    const env = { LAUNCHER_INSTALLER: installer, LAUNCHER_EXTRAS: "gpu" };
    const job = await runPython(usingIndex(index, { code, env, command: launch("echo", "ran"), listChanges: true }));
    expect(job.exitCode).toBe(78);
    expect(launcherLines(job.stderr)).toEqual([`launcher: LAUNCHER_EXTRAS names gpu, which the project does not declare (the installer says: ${warning})`]);
    expect(job.stderr).not.toMatch(/Traceback/);
    expect(job.stdout).toBe("");
    // The installer only resolved: nothing went into the image's environment.
    expect(job.changes!.filter((changed) => changed.startsWith("/opt/venv/lib/"))).toEqual([]);
  });

  it("L3.12 a chain of 1 500 included dependency groups, selected with LAUNCHER_GROUPS, is followed to its end: the last group's greeting is installed and the job runs", async () => {
    const links = Array.from({ length: 1500 }, (_, i) => `g${i} = [{include-group = "g${i + 1}"}]`);
    const pyproject = ["[project]", 'name = "app"', 'version = "0.1.0"', "dependencies = []", "", "[dependency-groups]", ...links, 'g1500 = ["greeting"]', ""];
    const code = await tgz({ "pyproject.toml": pyproject.join("\n") });
    const job = await runPython(usingIndex(index, { code, env: { LAUNCHER_GROUPS: "g0" }, command: sayHello }));
    expect(job.stderr).not.toMatch(/Traceback/);
    expect(launcherLines(job.stderr)).toEqual([
      expect.stringMatching(/^launcher: installed dependencies of the application in pyproject.toml with uv: 1 packages in \d+\.\d s$/),
    ]);
    expect(job.stdout).toBe("hello from greeting 2.0.0\n");
    expect(job.exitCode).toBe(0);
  });

  it("L3.4 a 480 KB .py file of '# /// a' lines beside main.py is read in linear time: the job runs within a 60 s hang detector", async () => {
    // Every line opens a block whose end could be any comment line after it: a search that
    // starts again at each opening line reads the rest of the file once per line (minutes).
    const code = await tgz({ "blocks.py": "# /// a\n".repeat((480 << 10) / 8), "main.py": "print('ran')\n" });
    const job = await runPython({ code, command: launch("python", "main.py"), timeoutMs: 60_000 });
    expect(job.stdout).toBe("ran\n");
    expect(launcherLines(job.stderr)).toEqual(["launcher: nothing to install (no requirements file found)"]);
    expect(job.exitCode).toBe(0);
  });

  it("L3.11 requirement files below the top are named in the nothing-to-install line", async () => {
    const code = await tgz({ "requirements/prod.txt": "greeting\n", "requirements/dev.txt": "", "main.py": "print('ran')\n" });
    const job = await runPython({ code, command: launch("python", "main.py") });
    expect(job.stdout).toBe("ran\n");
    expect(launcherLines(job.stderr)).toEqual([
      "launcher: nothing to install (no requirements file at the top of the bundle; found requirements/dev.txt, requirements/prod.txt: name one with LAUNCHER_REQUIREMENTS=FILE to install it)",
    ]);
  });

  it("L3.11 a monorepo's requirement files two levels down are named, with the setting that selects one", async () => {
    const code = await tgz({
      "services/etl/requirements.txt": "greeting\n",
      "services/api/requirements.txt": "greeting\n",
      "main.py": "print('ran')\n",
    });
    const job = await runPython({ code, command: launch("python", "main.py") });
    expect(job.stdout).toBe("ran\n");
    expect(launcherLines(job.stderr)).toEqual([
      "launcher: nothing to install (no requirements file at the top of the bundle; found services/api/requirements.txt, services/etl/requirements.txt: name one with LAUNCHER_REQUIREMENTS=FILE to install it)",
    ]);
  });

  it("L3.11 past five such files, the line says how many more", async () => {
    const files = Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`svc${i}/requirements.txt`, "greeting\n"]));
    const job = await runPython({ code: await tgz({ ...files, "main.py": "print('ran')\n" }), command: launch("python", "main.py") });
    expect(job.stdout).toBe("ran\n");
    expect(launcherLines(job.stderr)).toEqual([
      expect.stringMatching(/found svc0\/requirements\.txt, .*, svc4\/requirements\.txt, and 2 more: name one with LAUNCHER_REQUIREMENTS=FILE/),
    ]);
  });

  it("L3.5 with nothing to install, one line says so and the command runs", async () => {
    const job = await runPython({ code: await tgz({ "main.py": "print('ran')\n" }), command: launch("python", "main.py") });
    expect(job.stdout).toBe("ran\n");
    expect(launcherLines(job.stderr)).toEqual(["launcher: nothing to install (no requirements file found)"]);
    expect(job.exitCode).toBe(0);
  });

  it.each([
    ["pdm.lock", "found pdm.lock (PDM), which is not supported"],
    ["environment.yml", "found environment.yml (conda), which is not supported"],
  ])("L3.6 only %s: exit 78 naming it and what is supported", async (file, message) => {
    const job = await runPython({ code: await tgz({ [file]: "x\n", "main.py": "" }), command: launch("echo", "ran") });
    expect(job.exitCode).toBe(78);
    expect(launcherLines(job.stderr)).toEqual([expect.stringContaining(`launcher: ${message}; declare requirements with uv.lock, poetry.lock, Pipfile.lock, pylock.toml, requirements.txt, pyproject.toml`)]);
    expect(job.stdout).toBe("");
  });

  it("L3.7 LAUNCHER_REQUIREMENTS names the file to install", async () => {
    const code = await tgz({ "requirements.txt": "absent==9.9\n", "deps/prod.txt": "greeting==2.0.0\n" });
    const job = await runPython(usingIndex(index, { code, env: { LAUNCHER_REQUIREMENTS: "deps/prod.txt" }, command: sayHello }));
    expect(job.stdout).toBe("hello from greeting 2.0.0\n");
    expect(job.exitCode).toBe(0);
  });

  it("L3.7 LAUNCHER_REQUIREMENTS=none turns installation off", async () => {
    const code = await tgz({ "requirements.txt": "absent==9.9\n" });
    const job = await runPython({ code, env: { LAUNCHER_REQUIREMENTS: "none" }, command: launch("echo", "ran") });
    expect(job.stdout).toBe("ran\n");
    expect(launcherLines(job.stderr)).toEqual(["launcher: nothing to install (LAUNCHER_REQUIREMENTS=none)"]);
    expect(job.exitCode).toBe(0);
  });

  it("L3.7 a named file that does not exist stops the launcher (78)", async () => {
    const job = await runPython({ code: await tgz({ "main.py": "" }), env: { LAUNCHER_REQUIREMENTS: "nope.txt" }, command: launch("echo", "ran") });
    expect(job.exitCode).toBe(78);
    expect(launcherLines(job.stderr)).toEqual(["launcher: LAUNCHER_REQUIREMENTS=nope.txt: no such file in the bundle"]);
  });
});
