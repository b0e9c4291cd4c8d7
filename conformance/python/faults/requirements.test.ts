// Requirements that cannot be installed, and package indexes that fail: each row is
// the bundle and the index, the exit code and the launcher's one line, and a bound on
// how long the launcher may take to give up.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tgz } from "../../support/fixtures.js";
import { type PackageIndex, startPackageIndex, startSilentIndex } from "../../support/package-index.js";
import { project } from "../../support/projects.js";
import { launch, launcherLines, runPython, usingIndex } from "../../support/python.js";

const indexes: Record<"fixture" | "slow" | "silent", PackageIndex> = {} as never;
beforeAll(async () => {
  [indexes.fixture, indexes.slow, indexes.silent] = await Promise.all([
    startPackageIndex(),
    startPackageIndex({ delayMs: 1500 }),
    startSilentIndex(),
  ]);
});
afterAll(() => Promise.all(Object.values(indexes).map((index) => index.close())));

/** Nothing listens here: connections to it are refused at once. */
const REFUSING_INDEX = "http://127.0.0.1:9/simple/";

const failingBuild = {
  ...project("setuptools"),
  "setup.py": 'raise SystemExit("boom in setup.py")\n',
};

interface Failure {
  name: string;
  files: Record<string, string>;
  /** The job's PIP_INDEX_URL (the fixture index by default); "none" sets none. */
  index?: "fixture" | "silent" | "refusing" | "none";
  env?: Record<string, string>;
  exitCode: number;
  message: RegExp;
  /** Text of the installer's error that must reach stderr. */
  shows?: string;
  /** The launcher gives up within this many seconds (a hang detector, not a goal). */
  within?: number;
}

const failures: Failure[] = [
  {
    name: "L4.5 a package that does not exist",
    files: { "requirements.txt": "does-not-exist==1.0\n" },
    exitCode: 69,
    message: /^launcher: installing requirements.txt failed \(uv exited 1\): a requirement is not available from http:\/\/127\.0\.0\.1:\d+\/simple\/$/,
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
    name: "L4.6 an index that refuses connections",
    files: { "requirements.txt": "greeting==1.0.0\n" },
    index: "refusing",
    exitCode: 69,
    message: /\(uv exited 2\): http:\/\/127\.0\.0\.1:9\/simple\/greeting\/ could not be reached; check PIP_INDEX_URL, PIP_EXTRA_INDEX_URL/,
    within: 60,
  },
  {
    name: "L4.5 an extra index that refuses connections is the one named, not the index that works",
    files: { "requirements.txt": "greeting==1.0.0\n" },
    env: { PIP_EXTRA_INDEX_URL: "http://127.0.0.1:9/extra/simple/" },
    exitCode: 69,
    message: /\(uv exited 2\): http:\/\/127\.0\.0\.1:9\/extra\/simple\/greeting\/ could not be reached/,
    within: 60,
  },
  {
    name: "L4.5 an --index-url inside requirements.txt that refuses connections is the one named",
    files: { "requirements.txt": "--index-url http://127.0.0.1:9/private/simple/\ngreeting==1.0.0\n" },
    index: "none",
    exitCode: 69,
    message: /\(uv exited 2\): http:\/\/127\.0\.0\.1:9\/private\/simple\/greeting\/ could not be reached/,
    within: 60,
  },
  {
    name: "L4.6 an index that refuses connections, with pip",
    files: { "requirements.txt": "greeting==1.0.0\n" },
    index: "refusing",
    env: { LAUNCHER_INSTALLER: "pip" },
    exitCode: 69,
    message: /\(pip exited 1\): the package index http:\/\/127\.0\.0\.1:9\/simple\/ could not be reached/,
    within: 60,
  },
  {
    name: "L4.6 an index that never answers, with PIP_TIMEOUT=2 and PIP_RETRIES=1",
    files: { "requirements.txt": "greeting==1.0.0\n" },
    index: "silent",
    env: { PIP_TIMEOUT: "2", PIP_RETRIES: "1" },
    exitCode: 69,
    message: /\(uv exited 2\): http:\/\/127\.0\.0\.1:\d+\/simple\/greeting\/ did not answer in time \(PIP_TIMEOUT sets/,
    within: 45,
  },
];

describe("python faults: requirements", () => {
  it.each(failures)("$name: exit $exitCode, one line that says why", async (row) => {
    const index = row.index === "refusing" ? { url: REFUSING_INDEX } : row.index === "none" ? undefined : indexes[row.index ?? "fixture"];
    const started = performance.now();
    const bundle = { code: await tgz(row.files), env: row.env, outputs: true, command: launch("echo", "ran") };
    const job = await runPython(index ? usingIndex(index, bundle) : bundle);
    const seconds = (performance.now() - started) / 1000;
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
    expect(job.outputs["requirements.log"]?.toString()).toContain(`failed: ${own[0]!.replace(/^launcher: /, "")}`);
    if (row.shows) expect(job.stderr).toContain(row.shows);
    if (row.within) expect(seconds).toBeLessThan(row.within);
  });

  it("L4.6 an index that answers slowly is waited for, and the install succeeds", async () => {
    const job = await runPython(
      usingIndex(indexes.slow, {
        code: await tgz({ "requirements.txt": "greeting==1.0.0\n" }),
        command: launch("python", "-c", "import greeting; print(greeting.hello())"),
      }),
    );
    expect(job.stdout).toBe("hello from greeting 1.0.0\n");
    expect(job.exitCode).toBe(0);
    expect(indexes.slow.requests.length).toBeGreaterThan(0);
  });
});
