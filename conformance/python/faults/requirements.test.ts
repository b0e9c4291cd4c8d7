// Requirements that cannot be installed, and package indexes that fail: each row is
// the bundle and the index, the exit code and the launcher's one line, and for an index
// that cannot be reached, how soon the launcher gives up.
import { describe, expect, it } from "vitest";
import { tgz } from "../../support/fixtures.js";
import { type IndexUrl, packageIndex, refusingIndex, silentIndex, SLOW_INDEX_DELAY_MS } from "../../support/indexes.js";
import type { JobResult } from "../../support/job.js";
import { oldPoetryLock } from "../../support/locks.js";
import { project } from "../../support/projects.js";
import { launch, launcherLines, requirementsLog, runPython, usingIndex } from "../../support/python.js";

const fixtures = packageIndex();

/** text as a regular expression that matches it literally. */
const literally = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

// An index that refuses connections fails the install within the installers' own retries:
// uv's 3 (backing off at most 1 + 3 + 9 s) and pip's 5 (0.5 + 1 + 2 + 4 s), and the start of
// the launcher and the installer (seconds on a busy machine). An installer that waited for
// an answer instead would take PIP_TIMEOUT, 15 s by default, per attempt: 60 s for uv's 4.
const REFUSED_WITHIN_S = 30;

const failingBuild = {
  ...project("setuptools"),
  "setup.py": 'raise SystemExit("boom in setup.py")\n',
};

interface Failure {
  name: string;
  files: Record<string, string>;
  /** The job's PIP_INDEX_URL (the fixture index by default); "none" sets none. */
  index?: IndexUrl | "none";
  env?: Record<string, string>;
  exitCode: number;
  message: RegExp;
  /** Text of the installer's error that must reach stderr. */
  shows?: string;
  /** Text that must reach neither stderr nor the log (a credential). */
  hides?: string;
  /** The job ends within this many seconds (L4.6). */
  within?: number;
}

const failures: Failure[] = [
  {
    name: "L4.5 a package that does not exist",
    files: { "requirements.txt": "does-not-exist==1.0\n" },
    exitCode: 69,
    message: new RegExp(`^launcher: installing requirements.txt failed \\(uv exited 1\\): does-not-exist is not available from ${literally(fixtures.url)}$`),
    shows: "does-not-exist",
  },
  {
    name: "L4.5 a dependency the index lacks is named, not the requirement that needs it",
    files: { "requirements.txt": "needs-missing==1.0.0\n" },
    exitCode: 69,
    message: new RegExp(`\\(uv exited 1\\): not-on-the-index is not available from ${literally(fixtures.url)}$`),
    shows: "not-on-the-index",
  },
  {
    name: "L4.5 a package with wheels for Windows alone (a pip freeze from Windows): named, with its platforms, not a conflict",
    files: { "requirements.txt": "windows-only==1.0.0\n" },
    exitCode: 69,
    message: /\(uv exited 1\): windows-only has no wheel for this image \(Linux, CPython \d+\.\d+\), only for win_amd64; a `pip freeze` from another system names such packages/,
    shows: "windows-only",
  },
  {
    name: "L4.5 --only-binary with a package that has only an sdist: named, and that building is off, not a conflict",
    files: { "requirements.txt": "--only-binary :all:\ncext==0.1.0\n" },
    exitCode: 69,
    message: /\(uv exited 1\): cext has no wheel that fits, and building from source is off \(--only-binary or --no-build\)/,
    shows: "cext",
  },
  {
    name: "L4.5 a conda pip freeze's file:// path that is not in the job: 78, the path named",
    files: { "requirements.txt": "greeting @ file:///home/conda/feedstock_root/build_artifacts/greeting_1/work\n" },
    exitCode: 78,
    message: /: the requirements name file:\/\/\/home\/conda\/feedstock_root\/build_artifacts\/greeting_1\/work, a path that is not in this job/,
  },
  {
    name: "L4.5 a git+https requirement that cannot be fetched: the repository named, without its credentials",
    files: { "requirements.txt": "repo @ git+https://user:s3cret-token@127.0.0.1:9/org/repo.git@v1\n" },
    exitCode: 69,
    message: /: fetching the Git repository https:\/\/127\.0\.0\.1:9\/org\/repo\.git failed \(git's error is above\)/,
    hides: "s3cret-token",
  },
  {
    name: "L4.5 a package that does not exist, with pip: named",
    files: { "requirements.txt": "does-not-exist==1.0\n" },
    env: { LAUNCHER_INSTALLER: "pip" },
    exitCode: 69,
    message: /\(pip exited 1\): does-not-exist==1\.0 is not available from /,
    shows: "does-not-exist",
  },
  {
    name: "L4.5 conflicting pins",
    files: { "requirements.txt": "greeting==1.0.0\ngreeting==2.0.0\n" },
    exitCode: 69,
    message: /: the requirements conflict; see the resolver's explanation above$/,
    shows: "greeting==1.0.0 and greeting==2.0.0",
  },
  {
    name: "L4.5 a dependency that conflicts with a pin",
    files: { "requirements.txt": "needs-greeting-one==1.0.0\ngreeting==2.0.0\n" },
    exitCode: 69,
    message: /: the requirements conflict; see the resolver's explanation above$/,
  },
  {
    name: "L4.5 a syntax error in requirements.txt",
    files: { "requirements.txt": "greeting[extra\n" },
    exitCode: 78,
    message: /^launcher: installing requirements.txt failed \(uv exited 2\): a requirement is not valid; fix the line shown above$/,
    shows: "greeting[extra",
  },
  {
    name: "L4.5 a syntax error in requirements.txt, with pip",
    files: { "requirements.txt": "=greeting\n" },
    env: { LAUNCHER_INSTALLER: "pip" },
    exitCode: 78,
    message: /\(pip exited 1\): a requirement is not valid; fix the line shown above$/,
    shows: "=greeting",
  },
  {
    name: "L4.5 requirements.txt naming a file the bundle lacks",
    files: { "requirements.txt": "-r other.txt\n" },
    exitCode: 78,
    message: /: a file named in the requirements is missing from the bundle$/,
    shows: "other.txt",
  },
  {
    name: "L4.5 requirements.txt including a file outside the bundle (an absolute path), before any install",
    files: { "requirements.txt": "greeting==1.0.0\n-r /etc/hostname\n" },
    exitCode: 78,
    message: /^launcher: requirements.txt includes \/etc\/hostname, which is outside the bundle; put that file in the bundle/,
  },
  {
    name: "L4.5 requirements.txt including a file outside the bundle, the option joined to its path (-r/etc/hostname), with pip",
    files: { "requirements.txt": "-r/etc/hostname\n" },
    env: { LAUNCHER_INSTALLER: "pip" },
    exitCode: 78,
    message: /^launcher: requirements.txt includes \/etc\/hostname, which is outside the bundle/,
  },
  {
    name: "L3.1 an option joined to its value (-rsub/more.txt), which uv does not read: 78, saying how to write it",
    files: { "requirements.txt": "-rsub/more.txt\n", "sub/more.txt": "greeting==1.0.0\n" },
    exitCode: 78,
    message: /\(uv exited 2\): uv does not read an option joined to its value \(such as -rfile\.txt\) in a requirements file: put a space between them \(-r file\.txt\), or set LAUNCHER_INSTALLER=pip/,
  },
  {
    name: "L4.5 a nested requirements file including one above the bundle, with pip",
    files: { "requirements.txt": "-r deps/base.txt\n", "deps/base.txt": "-c ../../constraints.txt\n" },
    env: { LAUNCHER_INSTALLER: "pip" },
    exitCode: 78,
    message: /^launcher: deps\/base.txt includes \.\.\/\.\.\/constraints.txt, which is outside the bundle/,
  },
  {
    name: "L4.5 a malformed pyproject.toml",
    files: { "pyproject.toml": "[project\nname = 'x'\n" },
    exitCode: 78,
    message: /^launcher: pyproject.toml is not valid TOML \(.*at line 1, column 9\)\); fix it$/,
  },
  {
    name: "L4.5 a pyproject.toml whose build fails",
    files: failingBuild,
    exitCode: 69,
    message: /^launcher: installing project \(pyproject.toml\) failed \(uv exited 1\): building the project failed; see the build's error above$/,
    shows: "boom in setup.py",
  },
  {
    name: `L4.6 an index that refuses connections, within ${REFUSED_WITHIN_S} s`,
    files: { "requirements.txt": "greeting==1.0.0\n" },
    index: refusingIndex,
    exitCode: 69,
    message: /\(uv exited 2\): http:\/\/127\.0\.0\.1:9\/simple\/greeting\/ could not be reached; check PIP_INDEX_URL, PIP_EXTRA_INDEX_URL/,
    within: REFUSED_WITHIN_S,
  },
  {
    name: "L4.5 an extra index that refuses connections is the one named, not the index that works",
    files: { "requirements.txt": "greeting==1.0.0\n" },
    env: { PIP_EXTRA_INDEX_URL: "http://127.0.0.1:9/extra/simple/" },
    exitCode: 69,
    message: /\(uv exited 2\): http:\/\/127\.0\.0\.1:9\/extra\/simple\/greeting\/ could not be reached/,
  },
  {
    name: "L4.5 an --index-url inside requirements.txt that refuses connections is the one named",
    files: { "requirements.txt": "--index-url http://127.0.0.1:9/private/simple/\ngreeting==1.0.0\n" },
    index: "none",
    exitCode: 69,
    message: /\(uv exited 2\): http:\/\/127\.0\.0\.1:9\/private\/simple\/greeting\/ could not be reached/,
  },
  {
    name: `L4.6 an index that refuses connections, with pip, within ${REFUSED_WITHIN_S} s`,
    files: { "requirements.txt": "greeting==1.0.0\n" },
    index: refusingIndex,
    env: { LAUNCHER_INSTALLER: "pip" },
    exitCode: 69,
    message: /\(pip exited 1\): the package index http:\/\/127\.0\.0\.1:9\/simple\/ could not be reached/,
    within: REFUSED_WITHIN_S,
  },
  {
    name: "L4.5 a requirements line uv cannot parse (an unknown option after a requirement): 78 as with pip",
    files: { "requirements.txt": "greeting==1.0.0 --bogus-option\n" },
    exitCode: 78,
    message: /^launcher: installing requirements\.txt failed \(uv exited 2\): a requirement is not valid; fix the line shown above$/,
    shows: "--bogus-option",
  },
  {
    name: "L4.5 an --index-url line with no URL",
    files: { "requirements.txt": "--index-url\ngreeting==1.0.0\n" },
    exitCode: 78,
    message: /^launcher: installing requirements\.txt failed \(uv exited 2\): a requirement is not valid; fix the line shown above$/,
  },
  {
    name: "L4.5 a download that cannot be reached, with pip: the line names the URL, not the index",
    files: { "requirements.txt": "greeting @ http://127.0.0.1:1/files/greeting-1.0.0-py3-none-any.whl\n" },
    env: { LAUNCHER_INSTALLER: "pip", PIP_RETRIES: "0" },
    exitCode: 69,
    message: /^launcher: installing requirements\.txt failed \(pip exited 1\): http:\/\/127\.0\.0\.1:1\/files\/greeting-1\.0\.0-py3-none-any\.whl could not be reached; /,
    within: REFUSED_WITHIN_S,
  },
];

describe("python faults: requirements", () => {
  it.each(failures)("$name: exit $exitCode, one line that says why", async (row) => {
    const index = row.index === "none" ? undefined : (row.index ?? fixtures);
    const bundle = { code: await tgz(row.files), env: row.env, outputs: true, command: launch("echo", "ran") };
    const job = await runPython(index ? usingIndex(index, bundle) : bundle);
    expect(job.exitCode).toBe(row.exitCode);
    expect(job.stdout).toBe("");
    expect(job.stderr).not.toMatch(/Traceback/);
    const own = launcherLines(job.stderr);
    expect(own).toHaveLength(1);
    // Once the installer has run, the line points to the log, which holds the whole story.
    const [line, pointer] = own[0]!.split(/(?=; full output in )/);
    expect(line).toMatch(row.message);
    const installerRan = /failed \((uv|pip) /.test(line!);
    expect(pointer).toBe(installerRan ? "; full output in /outputs/requirements.log" : undefined);
    expect(requirementsLog(job)).toContain(`failed: ${own[0]!.replace(/^launcher: /, "")}`);
    if (row.shows) expect(job.stderr).toContain(row.shows);
    if (row.hides) expect(job.stderr + requirementsLog(job)).not.toContain(row.hides);
    if (row.within) expect(job.seconds).toBeLessThan(row.within);
  });
});

// Beyond PIP_TIMEOUT per attempt: uv's wait of up to 3 s before a retry, and the start of the
// launcher and uv (seconds on a busy machine). Ignoring PIP_TIMEOUT would take 15 s per attempt
// (30 s for uv's own default), beyond these bounds; ignoring PIP_RETRIES would make 4 attempts.
const SILENT_MARGIN_S = 12;

describe("python faults: an index that stops answering", () => {
  it.each<{ settings: string; timeout: number; retries: number; env: Record<string, string> }>([
    { settings: "PIP_TIMEOUT=3 and PIP_RETRIES=1", timeout: 3, retries: 1, env: { PIP_TIMEOUT: "3", PIP_RETRIES: "1" } },
    // Unset, PIP_TIMEOUT is 15 s for uv too (uv's own default would be 30 s).
    { settings: "PIP_TIMEOUT unset (15 s) and PIP_RETRIES=0", timeout: 15, retries: 0, env: { PIP_RETRIES: "0" } },
  ])("L4.6 an index that never answers, with $settings: the install fails after PIP_TIMEOUT for each of 1 + PIP_RETRIES attempts", async ({ timeout, retries, env }) => {
    const index = silentIndex();
    const job = await runPython(
      usingIndex(index, { code: await tgz({ "requirements.txt": "greeting==1.0.0\n" }), env, outputs: true, command: launch("echo", "ran") }),
    );
    expect(job.exitCode).toBe(69);
    expect(job.stdout).toBe("");
    expect(launcherLines(job.stderr)).toEqual([
      `launcher: installing requirements.txt failed (uv exited 2): ${index.url}greeting/ did not answer in time (PIP_TIMEOUT sets the limit in seconds); full output in /outputs/requirements.log`,
    ]);
    const attempts = 1 + retries;
    expect(await index.requests()).toEqual(Array(attempts).fill("/simple/greeting/"));
    expect(job.seconds).toBeGreaterThanOrEqual(timeout * attempts);
    expect(job.seconds).toBeLessThan(timeout * attempts + SILENT_MARGIN_S);
  });

  it("L4.6 an index that answers slowly is waited for: each answer within PIP_TIMEOUT, the whole install longer", async () => {
    // Each answer comes after SLOW_INDEX_DELAY_MS, within PIP_TIMEOUT; the install asks for
    // several (the index's page for greeting, its wheel, in each step), so it takes longer
    // than PIP_TIMEOUT in all.
    const timeout = 5;
    expect(SLOW_INDEX_DELAY_MS / 1000).toBeLessThan(timeout);
    const index = packageIndex("slow");
    const job = await runPython(
      usingIndex(index, {
        code: await tgz({ "requirements.txt": "greeting==1.0.0\n" }),
        env: { PIP_TIMEOUT: String(timeout) },
        command: launch("python", "-c", "import greeting; print(greeting.hello())"),
      }),
    );
    expect(job.stdout).toBe("hello from greeting 1.0.0\n");
    expect(job.exitCode).toBe(0);
    expect(await index.requests()).toContain("/files/greeting-1.0.0-py3-none-any.whl");
    expect(job.seconds).toBeGreaterThan(timeout);
  });
});

/** What a job run with listChanges installed into the image's environment. */
const installed = (job: JobResult): string[] => job.changes!.filter((changed) => changed.startsWith("/opt/venv/lib/"));

/** An application's pyproject.toml with these lines in its [project] table (and tables after it). */
const application = (...lines: string[]) => ["[project]", 'name = "app"', 'version = "0.1.0"', ...lines, ""].join("\n");

/** A pyproject.toml just over 4 MiB (a comment makes it so). */
const oversized = `${application("dependencies = []")}# ${"x".repeat(4 << 20)}\n`;

interface Refusal {
  name: string;
  files: Record<string, string>;
  env?: Record<string, string>;
  /** The launcher's one line. */
  message: string;
}

/** Rows as [name, row], so that a test is named by the whole name ($name would be cut short). */
const titled = <Row extends { name: string }>(rows: Row[]): [string, Row][] => rows.map((row) => [row.name, row]);

describe("python faults: manifests that say the wrong thing", () => {
  it.each(titled<Refusal>([
    {
      name: 'L3.12 dependencies = "greeting" (a string, not a list): exit 78, one line naming the file and the key, nothing installed letter by letter',
      files: { "pyproject.toml": application('dependencies = "greeting"') },
      message: "launcher: pyproject.toml [project] dependencies must be a list of strings, not a string",
    },
    {
      name: 'L3.12 a dependency "--help" in pyproject.toml: exit 78, never an option to the installer',
      files: { "pyproject.toml": application('dependencies = ["--help"]') },
      message: "launcher: pyproject.toml [project] dependencies holds '--help', which is not a requirement; each starts with a package name",
    },
    {
      name: 'L3.12 a dependency "--help" in a PEP 723 block: exit 78, never an option to the installer',
      files: { "main.py": '# /// script\n# dependencies = ["--help"]\n# ///\nprint("ran")\n' },
      message: "launcher: main.py: 'dependencies' of its '# /// script' block holds '--help', which is not a requirement; each starts with a package name",
    },
    {
      name: "L3.12 a dependency that holds a line break: exit 78, the line break escaped",
      files: { "pyproject.toml": application('dependencies = ["greeting\\n--index-url=http://127.0.0.1:9/simple/"]') },
      message:
        "launcher: pyproject.toml [project] dependencies holds 'greeting\\n--index-url=http://127.0.0.1:9/simple/', which is not a requirement; each starts with a package name",
    },
    {
      name: "L3.12 project = 1 (not a table): exit 78",
      files: { "pyproject.toml": "project = 1\n" },
      message: "launcher: pyproject.toml project must be a table, not a number",
    },
    {
      name: "L3.12 [project] optional-dependencies = [] (not a table): exit 78",
      files: { "pyproject.toml": application("dependencies = []", "optional-dependencies = []") },
      message: "launcher: pyproject.toml [project] optional-dependencies must be a table, not a list",
    },
    {
      name: "L3.12 a pyproject.toml that is a folder: exit 78",
      files: { "pyproject.toml/README": "not a manifest\n", "main.py": 'print("ran")\n' },
      message: "launcher: pyproject.toml is not a regular file; a manifest must be a file",
    },
    {
      name: "L3.12 a pyproject.toml nested 5 000 arrays deep: exit 78, no crash",
      files: { "pyproject.toml": `x = ${"[".repeat(5000)}${"]".repeat(5000)}\n` },
      message: "launcher: pyproject.toml is not valid TOML: its tables or arrays are nested too deeply; fix it",
    },
    {
      name: "L3.12 a pyproject.toml over 4 MiB: exit 78, before it is parsed",
      files: { "pyproject.toml": oversized },
      message: `launcher: pyproject.toml is ${oversized.length} bytes, more than a manifest holds (4194304); is it the right file?`,
    },
    {
      name: "L3.12 a dependency group that includes itself, selected with LAUNCHER_GROUPS: exit 78",
      files: { "pyproject.toml": application("dependencies = []", "", "[dependency-groups]", 'loop = [{include-group = "loop"}]') },
      env: { LAUNCHER_GROUPS: "loop" },
      message: "launcher: pyproject.toml dependency group loop includes itself",
    },
  ]))("%s", async (_, { files, env, message }) => {
    const index = packageIndex();
    const job = await runPython(usingIndex(index, { code: await tgz(files), env, command: launch("echo", "ran"), listChanges: true }));
    expect(job.exitCode).toBe(78);
    expect(launcherLines(job.stderr)).toEqual([message]);
    expect(job.stderr).not.toMatch(/Traceback/);
    // The job did not run, no installer ran (uv's help would be on stdout), nothing was
    // asked of the index, and nothing was installed.
    expect(job.stdout).toBe("");
    expect(await index.requests()).toEqual([]);
    expect(installed(job)).toEqual([]);
  });
});

// Past its time limit, a tool is stopped at once; a job that ends within this hang detector
// was not left to run on (the build below sleeps for an hour; the export runs for more than
// six minutes).
const BOUNDED_WITHIN_MS = 60_000;

describe("python faults: tools that run too long", () => {
  it.each(["uv", "pip"])(
    "L4.11 a build that sleeps for an hour, with LAUNCHER_INSTALL_TIMEOUT=5 (%s): exit 69 after 5 s, one line naming the setting",
    async (installer) => {
      const job = await runPython(
        usingIndex(fixtures, {
          code: await tgz({ "requirements.txt": "sleeper==0.1.0\n" }),
          env: { LAUNCHER_INSTALLER: installer, LAUNCHER_INSTALL_TIMEOUT: "5" },
          outputs: true,
          command: launch("echo", "ran"),
          timeoutMs: BOUNDED_WITHIN_MS,
        }),
      );
      expect(job.exitCode).toBe(69);
      expect(launcherLines(job.stderr)).toEqual([
        `launcher: installing requirements.txt failed: ${installer} ran for more than 5 s and was stopped (LAUNCHER_INSTALL_TIMEOUT sets the limit; raise it for a longer build); full output in /outputs/requirements.log`,
      ]);
      expect(job.stderr).not.toMatch(/Traceback/);
      expect(job.stdout).toBe("");
      expect(requirementsLog(job)).toMatch(/^== \S+Z stopped after 5 s \(LAUNCHER_INSTALL_TIMEOUT\)$/m);
      expect(job.seconds).toBeGreaterThanOrEqual(5);
    },
  );

  it("L4.11 an old-format poetry.lock that keeps `poetry export` busy for minutes, with LAUNCHER_LOCK_TIMEOUT=5: exit 69, one line naming the setting and `poetry lock`", async () => {
    const job = await runPython({
      code: await tgz({ ...(await oldPoetryLock()), "main.py": 'print("ran")\n' }),
      env: { LAUNCHER_LOCK_TIMEOUT: "5" },
      outputs: true,
      command: launch("python", "main.py"),
      // The lock is refused before any index is needed.
      configure: (container) => container.withNetworkMode("none"),
      listChanges: true,
      timeoutMs: BOUNDED_WITHIN_MS,
    });
    expect(job.exitCode).toBe(69);
    expect(launcherLines(job.stderr)).toEqual([
      "launcher: installing poetry.lock (the locked versions) failed: poetry ran for more than 5 s and was stopped (LAUNCHER_LOCK_TIMEOUT sets the limit; an old poetry lock can take that long to read: run `poetry lock` and bundle again); full output in /outputs/requirements.log",
    ]);
    expect(job.stderr).not.toMatch(/Traceback/);
    expect(job.stdout).toBe("");
    // `poetry check --lock` accepts the lock (its content-hash is Poetry's) in under a second
    // and the export runs on; on a loaded machine, the check itself may be what is stopped.
    expect(requirementsLog(job)).toMatch(/^== \S+Z stopped after 5 s \(LAUNCHER_LOCK_TIMEOUT\)$/m);
    expect(installed(job)).toEqual([]);
    expect(job.seconds).toBeGreaterThanOrEqual(5);
  });
});
