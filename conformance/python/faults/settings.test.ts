// Settings that are malformed, that reach outside the bundle, or that hold credentials:
// each row is the environment, and the one line the launcher must answer with.
import { symlink } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { tgz, tree } from "../../support/fixtures.js";
import { packageIndex } from "../../support/indexes.js";
import { launch, launcherLines, requirementsLog, runPython, usingIndex } from "../../support/python.js";

const hello = { "main.py": 'print("hello from the bundle")\n' };
const invalid = (setting: string, form: string) => `launcher: ${setting} is not valid: ${form}`;
const SIZE = "give a whole number of bytes, optionally with a k, m, g or t suffix (1g = 1GB = 1GiB = 1 GiB), at least 1";
const URL = "give http(s)://[user:password@]host[:port]/path, with any '@', ':' or '/' in the user name or password percent-encoded (%40, %3A, %2F)";
const INSIDE = "name a file inside the bundle, relative to its top (or none)";

describe("python faults: settings", () => {
  it.each<{ env: Record<string, string>; message: string }>([
    { env: { LAUNCHER_MAX_BYTES: "1e5" }, message: invalid("LAUNCHER_MAX_BYTES='1e5'", SIZE) },
    { env: { LAUNCHER_MAX_BYTES: "-1" }, message: invalid("LAUNCHER_MAX_BYTES='-1'", SIZE) },
    { env: { LAUNCHER_MAX_BYTES: "1 petabyte" }, message: invalid("LAUNCHER_MAX_BYTES='1 petabyte'", SIZE) },
    { env: { LAUNCHER_MAX_MEMBERS: "1e5" }, message: invalid("LAUNCHER_MAX_MEMBERS='1e5'", "give a whole number, at least 1") },
    { env: { LAUNCHER_MAX_MEMBERS: "0" }, message: invalid("LAUNCHER_MAX_MEMBERS='0'", "give a whole number, at least 1") },
    // Caught even though the bundle has nothing to install.
    { env: { LAUNCHER_INSTALLER: "conda" }, message: invalid("LAUNCHER_INSTALLER='conda'", "choose one of uv, pip") },
    { env: { LAUNCHER_WORKDIR: "job" }, message: invalid("LAUNCHER_WORKDIR='job'", "give an absolute path") },
    { env: { LAUNCHER_JOB_ENV: "/tmp/job/env" }, message: "launcher: LAUNCHER_WORKDIR and LAUNCHER_JOB_ENV overlap; give two separate directories" },
    { env: { PIP_TIMEOUT: "soon" }, message: invalid("PIP_TIMEOUT='soon'", "give a number of seconds from 0.001 to 3600") },
    { env: { PIP_TIMEOUT: "1e30" }, message: invalid("PIP_TIMEOUT='1e30'", "give a number of seconds from 0.001 to 3600") },
    { env: { UV_HTTP_TIMEOUT: "2.5" }, message: invalid("UV_HTTP_TIMEOUT='2.5'", "give a whole number of seconds from 0.001 to 3600") },
    { env: { PIP_RETRIES: "-1" }, message: invalid("PIP_RETRIES='-1'", "give a whole number of retries from 0 to 100") },
    { env: { PIP_RETRIES: "100000000000000000000" }, message: invalid("PIP_RETRIES='100000000000000000000'", "give a whole number of retries from 0 to 100") },
    { env: { UV_HTTP_RETRIES: "x" }, message: invalid("UV_HTTP_RETRIES='x'", "give a whole number of retries from 0 to 100") },
    { env: { UV_LINK_MODE: "bogus" }, message: invalid("UV_LINK_MODE='bogus'", "choose one of clone, copy, hardlink, symlink") },
    { env: { PIP_TRUSTED_HOST: "a.example b/c" }, message: invalid("PIP_TRUSTED_HOST='a.example b/c'", "give host names or host:port, separated by spaces") },
    { env: { UV_FIND_LINKS: "http://ok.example/links,not a url" }, message: invalid("UV_FIND_LINKS (value not shown)", URL) },
    { env: { LAUNCHER_INSTALL_TIMEOUT: "0" }, message: invalid("LAUNCHER_INSTALL_TIMEOUT='0'", "give a number of seconds from 1 to 604800") },
    { env: { LAUNCHER_LOCK_TIMEOUT: "soon" }, message: invalid("LAUNCHER_LOCK_TIMEOUT='soon'", "give a number of seconds from 1 to 604800") },
    { env: { PIP_NO_INDEX: "maybe" }, message: invalid("PIP_NO_INDEX='maybe'", "give 1, true, yes or on (or 0, false, no, off)") },
    { env: { PIP_INDEX_URL: "ftp://mirror.example/simple" }, message: invalid("PIP_INDEX_URL (value not shown)", URL) },
    { env: { PIP_INDEX_URL: "http://us er:sp ace@index.example/simple" }, message: invalid("PIP_INDEX_URL (value not shown)", URL) },
    // A password with a raw '@' and ':' leaves a port that is not a number: refused, and never quoted.
    { env: { PIP_INDEX_URL: "https://user:p@ss:w0rd@index.example:x/simple" }, message: invalid("PIP_INDEX_URL (value not shown)", URL) },
    { env: { PIP_EXTRA_INDEX_URL: "https://ok.example/simple not-a-url" }, message: invalid("PIP_EXTRA_INDEX_URL (value not shown)", URL) },
    { env: { LAUNCHER_REQUIREMENTS: "/etc/passwd" }, message: invalid("LAUNCHER_REQUIREMENTS='/etc/passwd'", INSIDE) },
    { env: { LAUNCHER_REQUIREMENTS: "../../etc/passwd" }, message: invalid("LAUNCHER_REQUIREMENTS='../../etc/passwd'", INSIDE) },
  ])("L7.2 $env: exit 78, one line naming the setting and its form, before any work", async ({ env, message }) => {
    const job = await runPython({ code: await tgz(hello), env, outputs: true, command: launch("echo", "ran"), listChanges: true });
    expect(job.exitCode).toBe(78);
    expect(launcherLines(job.stderr)).toEqual([message]);
    expect(job.stderr).not.toMatch(/Traceback|p@ss|w0rd/);
    expect(job.stdout).toBe("");
    // Before any work: nothing extracted.
    expect(job.changes!.filter((changed) => changed.startsWith("/tmp/job"))).toEqual([]);
  });

  it.each([
    ["sizes take a suffix (1k = 1024 bytes)", { LAUNCHER_MAX_BYTES: "1k" }, "launcher: /code: content exceeds 1024 bytes at './b' (limit: LAUNCHER_MAX_BYTES)"],
    ["an empty value counts as unset", { LAUNCHER_MAX_BYTES: "", LAUNCHER_INSTALLER: "", LAUNCHER_REQUIREMENTS: "" }, ""],
  ])("L7.2 %s", async (_, env, refusal) => {
    const job = await runPython({ code: await tgz({ a: "x".repeat(600), b: "x".repeat(600) }), env, command: launch("echo", "ran") });
    if (refusal) {
      expect(launcherLines(job.stderr)).toEqual([refusal]);
      expect(job.exitCode).toBe(65);
    } else {
      expect(job.stdout).toBe("ran\n");
      expect(job.exitCode).toBe(0);
    }
  });

  it("L7.2 LAUNCHER_REQUIREMENTS naming a link that leads out of the bundle: the bundle is refused first (65, L2.1)", async () => {
    const dir = await tree(hello);
    await symlink("/etc/passwd", path.join(dir, "requirements-prod.txt"));
    const job = await runPython({ code: { path: dir }, env: { LAUNCHER_REQUIREMENTS: "requirements-prod.txt" }, command: launch("echo", "ran") });
    expect(job.exitCode).toBe(65);
    expect(launcherLines(job.stderr)).toEqual(["launcher: /code: refused member 'requirements-prod.txt': symlink to absolute path '/etc/passwd'"]);
  });
});

describe("python faults: credentials in index URLs", () => {
  it.each([
    {
      name: "a password with a raw '@'",
      url: "http://user:s3cr@t-pass@127.0.0.1:9/simple/",
      secrets: ["s3cr@t-pass", "s3cr"],
      index: "http://127.0.0.1:9/simple/greeting/",
    },
    {
      name: "a percent-encoded password",
      url: "http://user:p%40ss%2Fw0rd-x@127.0.0.1:9/simple/",
      secrets: ["p%40ss%2Fw0rd-x", "p@ss/w0rd-x", "w0rd"],
      index: "http://127.0.0.1:9/simple/greeting/",
    },
    {
      name: "a token with a raw '/', which ends the host early",
      url: "http://t0ken-part/and-s3cret-rest@127.0.0.1:9/simple/",
      secrets: ["and-s3cret-rest", "t0ken-part/and"],
      index: "an index URL (not shown, as it may hold credentials)",
    },
  ])("L4.7 $name is never printed, by the launcher or the installer's output", async ({ url, secrets, index }) => {
    const job = await runPython({
      code: await tgz({ "requirements.txt": "greeting==1.0.0\n" }),
      env: { PIP_INDEX_URL: url, PIP_RETRIES: "0", PIP_TIMEOUT: "5" },
      outputs: true,
      command: launch("echo", "ran"),
    });
    expect(job.exitCode).toBe(69);
    expect(launcherLines(job.stderr)).toEqual([
      `launcher: installing requirements.txt failed (uv exited 2): ${index} could not be reached; check PIP_INDEX_URL, PIP_EXTRA_INDEX_URL and any index the requirements name, and the job's network; full output in /outputs/requirements.log`,
    ]);
    const log = requirementsLog(job);
    expect(log).toMatch(/^stderr\| /m);
    for (const secret of secrets) {
      expect(job.stderr).not.toContain(secret);
      expect(log).not.toContain(secret);
    }
  });
});

describe("python faults: credentials anywhere in the settings", () => {
  it.each<{ name: string; env: Record<string, string>; secrets: string[] }>([
    { name: "a token in the index URL's query", env: { PIP_INDEX_URL: "http://127.0.0.1:9/simple/?token=qu3ry-t0ken" }, secrets: ["qu3ry-t0ken"] },
    { name: "a password of two characters", env: { PIP_INDEX_URL: "http://someone:pw@127.0.0.1:9/simple/" }, secrets: [":pw@", "someone:pw"] },
    {
      name: "credentials in UV_FIND_LINKS",
      env: { PIP_NO_INDEX: "1", UV_FIND_LINKS: "http://someone:f1nd-l1nks-pw@127.0.0.1:9/links/" },
      secrets: ["f1nd-l1nks-pw"],
    },
  ])("L4.7 $name is never printed, by the launcher or the installer's output", async ({ env, secrets }) => {
    const job = await runPython({
      code: await tgz({ "requirements.txt": "greeting==1.0.0\n" }),
      env: { ...env, PIP_RETRIES: "0", PIP_TIMEOUT: "5" },
      outputs: true,
      command: launch("echo", "ran"),
    });
    expect(job.exitCode).toBe(69);
    expect(launcherLines(job.stderr)).toEqual([expect.stringMatching(/^launcher: installing requirements\.txt failed \(uv exited \d+\): /)]);
    const log = requirementsLog(job);
    expect(log).toMatch(/^stderr\| /m);
    for (const secret of secrets) {
      expect(job.stderr).not.toContain(secret);
      expect(log).not.toContain(secret);
    }
  });
});

describe("python faults: secrets a build prints", () => {
  const index = packageIndex();
  it.each<{ name: string; env: Record<string, string>; secrets: string[] }>([
    { name: "values of three characters", env: { MY_API_TOKEN: "abc", DB_PASSWORD: "xyz" }, secrets: [" abc", " xyz"] },
    { name: "a value of two lines", env: { MY_API_TOKEN: "firstpartsecret\nsecondpartsecret" }, secrets: ["firstpartsecret", "secondpartsecret"] },
  ])("L4.7 secret-named variables with $name are hidden in the installer's output", async ({ env, secrets }) => {
    const job = await runPython(
      usingIndex(index, { code: await tgz({ "requirements.txt": "envdump==0.1.0\n" }), env, outputs: true, command: launch("echo", "ran") }),
    );
    expect(job.exitCode).toBe(69);
    const log = requirementsLog(job);
    expect(log).toMatch(/SECRET_DUMP \*\*\*\*/);
    for (const secret of secrets) {
      expect(job.stderr).not.toContain(secret);
      expect(log).not.toContain(secret);
    }
  });
});
