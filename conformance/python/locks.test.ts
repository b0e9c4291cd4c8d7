// Locks: the versions a project's author locked are the versions the job gets. Each lock is
// made at test time against an index where greeting 2.0.0 is not out yet; the jobs install
// from one where it is, so that a lock that is not honoured shows. (A lock that is there to
// be passed over is made against the current index: it pins 2.0.0.)
import { describe, expect, it } from "vitest";
import { tgz } from "../support/fixtures.js";
import { pipfileLock, poetryLock, pylock, uvLock } from "../support/locks.js";
import { type IndexUrl, packageIndex } from "../support/indexes.js";
import { project } from "../support/projects.js";
import { launch, launcherLines, requirementsLog, restricted, runPython, usingIndex } from "../support/python.js";
import { PYTHON_VERSION } from "../support/versions.js";

const now = packageIndex();
const then = packageIndex("before-greeting-2");
const tampered = packageIndex("tampered");

/** An application (no build system, several modules) that depends on greeting. */
const app = (dependencies: string[]) => ({
  "pyproject.toml": `[project]\nname = "app"\nversion = "0.1.0"\nrequires-python = ">=${PYTHON_VERSION}"\ndependencies = ${JSON.stringify(dependencies)}\n`,
  "main.py": "import greeting\nprint(greeting.hello())\n",
  "helpers.py": "X = 1\n",
});
const sayHello = launch("python", "main.py");
const summary = (method: string, packages: number, unused = "") =>
  new RegExp(`^launcher: installed ${method.replace(/[.()]/g, "\\$&")} with uv: ${packages} packages in \\d+\\.\\d s${unused}$`);

describe("python: locks", () => {
  it.each([
    ["as root, into /opt/venv", false],
    ["as another uid, into /tmp/job-env", true],
  ])("L3.8 uv.lock: the locked version is installed, not the newest (%s)", async (_, asUser) => {
    const files = { ...app(["greeting"]), "uv.lock": await uvLock(then, app(["greeting"])) };
    const job = { code: await tgz(files), command: sayHello, outputs: true };
    const result = await runPython(usingIndex(now, asUser ? restricted(job) : job));
    expect(result.stdout).toBe("hello from greeting 1.0.0\n");
    expect(launcherLines(result.stderr)).toContainEqual(expect.stringMatching(summary("uv.lock (the locked versions)", 1)));
    expect(requirementsLog(result)).toMatch(/ detect: uv\.lock \(the locked versions\) \(found uv\.lock\)\n/);
    expect(result.exitCode).toBe(0);
  });

  it("L3.8 a lock wins over requirements.txt, and the summary names what was not used", async () => {
    const files = { ...app(["greeting"]), "uv.lock": await uvLock(then, app(["greeting"])), "requirements.txt": "greeting==2.0.0\n" };
    const job = await runPython(usingIndex(now, { code: await tgz(files), command: sayHello }));
    expect(job.stdout).toBe("hello from greeting 1.0.0\n");
    expect(launcherLines(job.stderr)).toEqual([expect.stringMatching(summary("uv.lock (the locked versions)", 1, "; not used: requirements.txt"))]);
  });

  it("L3.8 a packaged project locked by uv.lock is installed on top, with its console script", async () => {
    const files = { ...project("hatchling"), "uv.lock": await uvLock(then, project("hatchling")) };
    const job = await runPython(usingIndex(now, { code: await tgz(files), command: launch("jobtool") }));
    expect(job.stdout).toBe("jobtool: hello from greeting 1.0.0\n");
    expect(job.exitCode).toBe(0);
  });

  it("L3.8 a uv.lock that no longer matches pyproject.toml: exit 78, before anything is installed", async () => {
    const files = { ...app(["greeting", "needs-greeting-one"]), "uv.lock": await uvLock(then, app(["greeting"])) };
    const job = await runPython(usingIndex(now, { code: await tgz(files), command: launch("echo", "ran") }));
    expect(job.exitCode).toBe(78);
    expect(launcherLines(job.stderr)).toEqual([
      "launcher: installing uv.lock (the locked versions) failed (uv exited 1): uv.lock does not match pyproject.toml any more (`uv lock --check` fails, as shown above); run `uv lock` and bundle again, or set LAUNCHER_IGNORE_LOCK=1 to install from pyproject.toml without the lock",
    ]);
    expect(job.stdout).toBe("");
  });

  it("L3.8 LAUNCHER_IGNORE_LOCK=1 installs from pyproject.toml, and the log says the lock was not used", async () => {
    const files = { ...app(["greeting"]), "uv.lock": await uvLock(then, app(["greeting"])) };
    const job = await runPython(usingIndex(now, { code: await tgz(files), env: { LAUNCHER_IGNORE_LOCK: "1" }, command: sayHello, outputs: true }));
    expect(job.stdout).toBe("hello from greeting 2.0.0\n");
    expect(requirementsLog(job)).toMatch(/detect: dependencies of the application in pyproject.toml \(found pyproject.toml; not used: uv.lock/);
  });

  it("L3.8 the lock's hashes are verified: a file that changed on the index is refused (69)", async () => {
    const files = { ...app(["greeting"]), "uv.lock": await uvLock(then, app(["greeting"])) };
    const job = await runPython(usingIndex(tampered, { code: await tgz(files), command: launch("echo", "ran") }));
    expect(job.exitCode).toBe(69);
    expect(launcherLines(job.stderr)).toEqual([
      `launcher: installing uv.lock (the locked versions) failed (uv exited 1): a downloaded file does not match its hash in the lock or requirements: ${tampered.url} serves other files than those locked`,
    ]);
    expect(job.stdout).toBe("");
  });

  it("L3.8 pylock.toml (PEP 751) installs exactly what it names", async () => {
    const files = { "pylock.toml": await pylock(then, app(["greeting"])), "main.py": app([])["main.py"] };
    const job = await runPython(usingIndex(now, { code: await tgz(files), command: sayHello }));
    expect(job.stdout).toBe("hello from greeting 1.0.0\n");
    expect(launcherLines(job.stderr)).toEqual([expect.stringMatching(summary("pylock.toml (the locked versions)", 1))]);
    expect(job.exitCode).toBe(0);
  });

  /** A Poetry application that depends on greeting, with index as its source. */
  const poetryApp = (index: IndexUrl, dependencies: string[]) => ({
    ...app(dependencies),
    "pyproject.toml": `${app(dependencies)["pyproject.toml"]}\n[tool.poetry]\npackage-mode = false\n\n[[tool.poetry.source]]\nname = "fixture"\nurl = "${index.url}"\npriority = "primary"\n`,
  });
  /** A Pipfile that asks for the packages, with index as its source. */
  const pipfile = (index: IndexUrl, packages: string[]) => ({
    Pipfile: `[[source]]\nurl = "${index.url}"\nverify_ssl = false\nname = "fixture"\n\n[packages]\n${packages.map((p) => `${p} = "*"`).join("\n")}\n`,
    "main.py": app([])["main.py"],
  });

  it.each([
    ["poetry.lock (Poetry)", async () => ({ ...poetryApp(then, ["greeting"]), "poetry.lock": await poetryLock(then, poetryApp(then, ["greeting"])) })],
    ["Pipfile.lock (Pipenv)", async () => ({ ...pipfile(then, ["greeting"]), "Pipfile.lock": await pipfileLock(then, pipfile(then, ["greeting"])) })],
  ])("L3.8 %s: the locked version is installed, not the newest, whatever the uid", async (lock, files) => {
    const code = await tgz(await files());
    const [root, other] = await Promise.all([
      runPython(usingIndex(now, { code, command: sayHello })),
      runPython(usingIndex(now, restricted({ code, command: sayHello }))),
    ]);
    for (const job of [root, other]) {
      expect(job.stdout).toBe("hello from greeting 1.0.0\n");
      expect(launcherLines(job.stderr)).toContainEqual(expect.stringMatching(summary(`${lock.split(" ")[0]} (the locked versions)`, 1)));
      expect(job.exitCode).toBe(0);
    }
  });

  it.each([
    [
      "poetry.lock",
      async () => ({ ...poetryApp(then, ["greeting", "needs-greeting-one"]), "poetry.lock": await poetryLock(then, poetryApp(then, ["greeting"])) }),
      "launcher: installing poetry.lock (the locked versions) failed (poetry exited 1): poetry.lock does not match pyproject.toml any more (`poetry check --lock` fails, as shown above); run `poetry lock` and bundle again, or set LAUNCHER_IGNORE_LOCK=1 to install from pyproject.toml without the lock",
    ],
    [
      "Pipfile.lock",
      async () => ({ ...pipfile(then, ["greeting", "needs-greeting-one"]), "Pipfile.lock": await pipfileLock(then, pipfile(then, ["greeting"])) }),
      "launcher: installing Pipfile.lock (the locked versions) failed (pipenv exited 1): Pipfile.lock does not match Pipfile any more (`pipenv verify` fails, as shown above); run `pipenv lock` and bundle again, or set LAUNCHER_IGNORE_LOCK=1 to install from Pipfile without the lock",
    ],
  ])("L3.8 a %s that no longer matches its manifest: exit 78", async (_, files, message) => {
    const job = await runPython(usingIndex(now, { code: await tgz(await files()), command: launch("echo", "ran") }));
    expect(job.exitCode).toBe(78);
    expect(launcherLines(job.stderr)).toEqual([message]);
    expect(job.stdout).toBe("");
  });

  it("L3.7 LAUNCHER_REQUIREMENTS=sub/uv.lock, with another uv.lock at the top: the version sub/uv.lock pins is installed", async () => {
    // The top's lock pins greeting 2.0.0, sub/'s 1.0.0 (locked before 2.0.0 was out).
    const files = {
      ...app(["greeting"]),
      "uv.lock": await uvLock(now, app(["greeting"])),
      "sub/pyproject.toml": app(["greeting"])["pyproject.toml"],
      "sub/uv.lock": await uvLock(then, app(["greeting"])),
    };
    const job = await runPython(usingIndex(now, { code: await tgz(files), env: { LAUNCHER_REQUIREMENTS: "sub/uv.lock" }, command: sayHello }));
    expect(job.stderr).not.toMatch(/Traceback/);
    expect(job.stdout).toBe("hello from greeting 1.0.0\n");
    expect(launcherLines(job.stderr)).toEqual([expect.stringMatching(summary("sub/uv.lock (the locked versions)", 1))]);
    expect(job.exitCode).toBe(0);
  });

  /** A uv application that declares the extra `older` and the dependency group `dev`. */
  const declaring = {
    ...app(["greeting"]),
    "pyproject.toml": `${app(["greeting"])["pyproject.toml"]}\n[project.optional-dependencies]\nolder = ["needs-greeting-one"]\n\n[dependency-groups]\ndev = ["needs-greeting-one"]\n`,
  };
  /** A Poetry application with the dependency group `dev`. */
  const poetryDeclaring = {
    ...poetryApp(then, ["greeting"]),
    "pyproject.toml": `${poetryApp(then, ["greeting"])["pyproject.toml"]}\n[tool.poetry.group.dev.dependencies]\nneeds-greeting-one = "*"\n`,
  };
  /** A Pipfile with the categories packages and dev-packages. */
  const pipfileDeclaring = { ...pipfile(then, ["greeting"]), Pipfile: `${pipfile(then, ["greeting"]).Pipfile}\n[dev-packages]\nneeds-greeting-one = "*"\n` };
  /** Each kind of lock, with the manifest that declares its extras and groups. */
  const locked = {
    "uv.lock": async () => ({ ...declaring, "uv.lock": await uvLock(then, declaring) }),
    "poetry.lock": async () => ({ ...poetryDeclaring, "poetry.lock": await poetryLock(then, poetryDeclaring) }),
    "Pipfile.lock": async () => ({ ...pipfileDeclaring, "Pipfile.lock": await pipfileLock(then, pipfileDeclaring) }),
    // uv's export lists no extras or groups; this lock lists its project's, as PEP 751 lets a lock do.
    "pylock.toml": async () => ({ "pylock.toml": `extras = ["older"]\ndependency-groups = ["dev"]\n${await pylock(then, declaring)}` }),
  };
  const undeclared = (setting: string, where: string, declared: string) =>
    `launcher: ${setting} names gpu, which ${where} does not declare (it declares: ${declared})`;

  it.each<[keyof typeof locked, string, string, string]>([
    ["uv.lock", "LAUNCHER_EXTRAS", "gpu", undeclared("LAUNCHER_EXTRAS", "pyproject.toml", "older")],
    ["uv.lock", "LAUNCHER_GROUPS", "gpu", undeclared("LAUNCHER_GROUPS", "pyproject.toml", "dev")],
    ["poetry.lock", "LAUNCHER_GROUPS", "gpu", undeclared("LAUNCHER_GROUPS", "pyproject.toml", "dev")],
    // A Pipfile's groups are its categories, and it has no extras.
    ["Pipfile.lock", "LAUNCHER_GROUPS", "gpu", undeclared("LAUNCHER_GROUPS", "Pipfile", "dev-packages, packages")],
    ["Pipfile.lock", "LAUNCHER_EXTRAS", "older", "launcher: LAUNCHER_EXTRAS is set, but a Pipfile has no extras; name its categories with LAUNCHER_GROUPS"],
    ["pylock.toml", "LAUNCHER_EXTRAS", "gpu", undeclared("LAUNCHER_EXTRAS", "pylock.toml", "older")],
    ["pylock.toml", "LAUNCHER_GROUPS", "gpu", undeclared("LAUNCHER_GROUPS", "pylock.toml", "dev")],
  ])("L3.10 %s with %s=%s, a name it does not declare: exit 78 with the names it does, nothing installed", async (lock, setting, value, message) => {
    const index = packageIndex();
    const job = await runPython(usingIndex(index, { code: await tgz(await locked[lock]()), env: { [setting]: value }, command: launch("echo", "ran") }));
    expect(job.exitCode).toBe(78);
    expect(launcherLines(job.stderr)).toEqual([message]);
    expect(job.stderr).not.toMatch(/Traceback/);
    expect(job.stdout).toBe("");
    // Refused before the lock's tool or the installer ran: nothing was asked of the index.
    expect(await index.requests()).toEqual([]);
  });

  it("L3.8 a Pipfile without its lock: exit 78, saying how to make one", async () => {
    const job = await runPython({ code: await tgz(pipfile(now, ["greeting"])), command: launch("echo", "ran") });
    expect(job.exitCode).toBe(78);
    expect(launcherLines(job.stderr)).toEqual(["launcher: found Pipfile without Pipfile.lock; run `pipenv lock` and bundle the lock with it"]);
  });

  it("L3.8 several locks in one bundle: exit 78 naming them", async () => {
    const files = { ...app(["greeting"]), "uv.lock": "", "pylock.toml": "" };
    const job = await runPython({ code: await tgz(files), command: launch("echo", "ran") });
    expect(job.exitCode).toBe(78);
    expect(launcherLines(job.stderr)).toEqual([
      "launcher: found several locks (pylock.toml, uv.lock); keep one in the bundle, or name one with LAUNCHER_REQUIREMENTS=FILE",
    ]);
  });
});

describe("python: locks their tool did not write", () => {
  it.each([
    ["a Pipfile.lock that is a JSON list", { Pipfile: "[packages]\n", "Pipfile.lock": "[]" }, "launcher: Pipfile.lock is not a lock Pipenv wrote (no _meta table); make it again with `pipenv lock`"],
    ["a pylock.toml that is not TOML", { "pylock.toml": "[[packages\n" }, /^launcher: pylock\.toml is not valid TOML \(.+\); fix it$/],
    ["a pylock.toml of another lock-version", { "pylock.toml": 'lock-version = "9.0"\n' }, "launcher: pylock.toml has lock-version '9.0', not one of PEP 751's 1.x; make it again with `uv export`"],
    [
      "a pylock.toml whose packages are a string",
      { "pylock.toml": 'lock-version = "1.0"\npackages = "x"\n' },
      "launcher: pylock.toml must list its packages as tables, not a string; make it again with `uv export`",
    ],
  ])("L3.12 %s: exit 78, one line, no tool's traceback", async (_, files, line) => {
    const job = await runPython(usingIndex(now, { code: await tgz({ ...files, "main.py": "print('ran')\n" }), command: launch("python", "main.py") }));
    expect(job.exitCode).toBe(78);
    expect(launcherLines(job.stderr)).toEqual([typeof line === "string" ? line : expect.stringMatching(line)]);
    expect(job.stderr).not.toMatch(/Traceback|File "/);
    expect(job.stdout).toBe("");
  });
});

