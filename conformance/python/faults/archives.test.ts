// Hostile and broken code bundles: each row is the bundle, what the launcher
// must answer (exit code and its one line), and what must hold afterwards.
import { gzipSync } from "node:zlib";
import { randomUUID } from "node:crypto";
import { mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, inject, it } from "vitest";
import { execa } from "execa";
import { scenarioBundle, scenarioRefusals, tempDir, tgz, tree } from "../../support/fixtures.js";
import { RUN_LABEL } from "../../support/docker.js";
import { pythonImage } from "../../support/images.js";
import type { Job } from "../../support/job.js";
import { launch, launcherLines, restricted, runPython } from "../../support/python.js";
import { smallVolume } from "../../support/volumes.js";

const hello = { "main.py": 'print("hello from the bundle")\n' };

/** What a job may leave in the container's filesystem when its bundle is refused: the
 * mount point of /code, an empty working directory, and the launcher's mark beside it. */
const allowed = (changed: string) => ["/code", "/tmp", "/tmp/job", "/tmp/.job.launcher-made"].includes(changed);

/** /code as a directory of these files and symlinks (name -> target). */
async function directoryWith(files: Record<string, string>, links: Record<string, string> = {}): Promise<{ path: string }> {
  const dir = await tree(files);
  for (const [name, target] of Object.entries(links)) await symlink(target, path.join(dir, name));
  return { path: dir };
}

/** /code as a directory holding one file of this name and content. */
async function codeDirectory(name: string, content: Buffer): Promise<{ path: string }> {
  const dir = await tempDir();
  await writeFile(path.join(dir, name), content);
  return { path: dir };
}

interface Refusal {
  name: string;
  code: () => Promise<Job["code"]>;
  message: string | RegExp;
  exitCode?: number;
  env?: Record<string, string>;
  /** A /tmp of this many bytes (a tmpfs volume, whose contents are read afterwards). */
  tmpBytes?: number;
  /** A hang detector, in seconds (default 120): a bundle refused only once it is written takes longer. */
  within?: number;
}

const refused = (scenario: string) => () => scenarioBundle(scenario);
const refusalOf = await scenarioRefusals();
/** The line a refused scenario gets, as fixtures/make_bundle.py records it. */
const said = (scenario: string) => `launcher: /code${refusalOf(scenario)}`;
const member = (name: string, reason: string) => `launcher: /code: refused member '${name}': ${reason}`;
const corrupt = (kind: string, detail: string | RegExp) =>
  new RegExp(`^launcher: /code: ${kind} archive is truncated or corrupt \\(${typeof detail === "string" ? detail : detail.source}\\); make and upload the bundle again$`);

const refusals: Refusal[] = [
  // L1.6: not a bundle at all, or a damaged one
  { name: "L1.6 a text file", code: async () => Buffer.from("print('hi')\n"), message: /^launcher: \/code is not a tar or zip archive; make the bundle with: tar czf/ },
  {
    name: "L1.6 a text file named bundle.tar.gz in a /code directory",
    code: () => codeDirectory("bundle.tar.gz", Buffer.from("not an archive\n")),
    message: /^launcher: \/code\/bundle\.tar\.gz is not a tar or zip archive/,
  },
  {
    name: "L1.6 a gzip stream with no tar archive in it",
    code: async () => gzipSync("just text\n"),
    message: /^launcher: \/code is gzip data with no tar archive in it; make the bundle with/,
  },
  { name: "L1.6 an archive with no members", code: refused("empty"), message: said("empty") },
  { name: "L1.6 a gzip stream cut after 30 bytes", code: async () => (await tgz(hello)).subarray(0, 30), message: corrupt("gzip", "the stream ends early") },
  { name: "L1.6 a tgz whose trailer is missing (a truncated upload)", code: refused("damaged-trailer"), message: said("damaged-trailer") },
  { name: "L1.6 a tgz with a wrong CRC", code: refused("damaged-crc"), message: said("damaged-crc") },
  { name: "L1.6 a tgz with one flipped byte of content", code: refused("damaged-byte"), message: said("damaged-byte") },
  {
    name: "L1.6 a tgz with something other than zeros after its stream",
    code: async () => Buffer.concat([await tgz(hello), Buffer.from("trailing junk")]),
    message: corrupt("gzip", "something other than zeros follows the compressed stream"),
  },
  { name: "L1.6 a zip with a wrong CRC", code: refused("zip-bad-crc"), message: corrupt("zip", /ZIP bad CRC: 0x[0-9a-f]+ should be 0x[0-9a-f]+/) },
  {
    name: "L1.6 an encrypted zip",
    code: refused("zip-encrypted"),
    message: said("zip-encrypted"),
  },
  { name: "L1.6 a zip cut short (no central directory)", code: refused("zip-truncated"), message: said("zip-truncated") },
  { name: "L1.6 a tar whose pax header gives a negative size", code: refused("negative-pax-size"), message: said("negative-pax-size") },
  {
    name: "L1.6 a plain tar cut short where a member ends (no end-of-archive blocks)",
    code: refused("no-end-marker.tar"),
    message: said("no-end-marker.tar"),
  },
  {
    name: "L1.6 a zip whose symlink no longer matches its CRC",
    code: refused("zip-symlink-bad-crc"),
    message: said("zip-symlink-bad-crc"),
  },
  // L2.1: members that would land outside the root, or are not files
  { name: "L2.1 an absolute path", code: refused("absolute"), message: said("absolute") },
  { name: "L2.1 a ../ traversal", code: refused("traversal"), message: said("traversal") },
  { name: "L2.1 a ../ traversal in a name that is not UTF-8", code: refused("names-traversal"), message: said("names-traversal") },
  { name: "L2.1 a symlink to an absolute path, then a file written through it", code: refused("symlink-escape"), message: said("symlink-escape") },
  { name: "L2.1 a symlink that climbs out, then a file written through it", code: refused("symlink-dotdot"), message: said("symlink-dotdot") },
  {
    name: "L2.1 a symlink that a later symlink turns outwards",
    code: refused("symlink-later-link"),
    message: said("symlink-later-link"),
  },
  {
    name: "L2.1 a symlink named sub/., made as sub, whose ../link is then outside",
    code: refused("symlink-dot-name"),
    message: said("symlink-dot-name"),
  },
  {
    name: "L2.1 a pyvenv.cfg two levels above the root, which would make / a virtual environment to leave out",
    code: refused("venv-mark-outside"),
    message: said("venv-mark-outside"),
  },
  {
    name: "L2.1 a hardlink to link/., which is the symlink itself",
    code: refused("hardlink-dot-target"),
    message: said("hardlink-dot-target"),
  },
  {
    name: "L2.1 a file written through a symlink that stays inside",
    code: refused("symlink-through-inside-link"),
    message: said("symlink-through-inside-link"),
  },
  { name: "L2.1 a hardlink to a file outside", code: refused("hardlink-escape"), message: said("hardlink-escape") },
  { name: "L2.1 a hardlink that re-roots an inside symlink towards /etc", code: refused("hardlink-to-symlink"), message: said("hardlink-to-symlink") },
  {
    name: "L2.1 a hardlinked setup.py that would take the launcher's shim to /outputs",
    code: refused("hardlink-shim"),
    message: said("hardlink-shim"),
  },
  { name: "L2.1 a hardlink to a later member", code: refused("hardlink-later"), message: said("hardlink-later") },
  { name: "L2.1 a hardlink to a missing member", code: refused("hardlink-missing"), message: said("hardlink-missing") },
  { name: "L2.1 a device node", code: refused("device"), message: said("device") },
  { name: "L2.1 a FIFO", code: refused("fifo"), message: said("fifo") },
  { name: "L2.1 a zip with an absolute path", code: refused("zip-absolute"), message: said("zip-absolute") },
  { name: "L2.1 a zip with a ../ traversal", code: refused("zip-traversal"), message: said("zip-traversal") },
  { name: "L2.1 a zip with a symlink to /etc", code: refused("zip-symlink-escape"), message: said("zip-symlink-escape") },
  {
    name: "L2.1 a path longer than the kernel takes under /tmp/job",
    code: refused("long-path"),
    message: /^launcher: \/code: refused member '(d\/){2100}x\.txt': its path is longer than a path may be here \(4086 bytes\)$/,
  },
  {
    name: "L2.1 a directory bundle's symlink to /etc/passwd, as an archive's",
    code: () => directoryWith({ "main.py": "print(1)\n" }, { pw: "/etc/passwd" }),
    message: member("pw", "symlink to absolute path '/etc/passwd'"),
  },
  {
    name: "L2.6 a tree 1 200 directories deep, then a member refused: nothing of the tree is left",
    code: refused("deep-then-refused"),
    message: said("deep-then-refused"),
  },
  // L2.3: the caps, counted on what is really written
  {
    name: "L2.3 a decompression bomb (4 MB holding 4 GiB)",
    code: refused("bomb"),
    message: said("bomb"),
  },
  {
    name: "L2.3 more members than LAUNCHER_MAX_MEMBERS",
    code: () => tgz({ a: "", b: "", c: "" }),
    env: { LAUNCHER_MAX_MEMBERS: "2" },
    message: "launcher: /code: more than 2 members, counting the directories they are in (limit: LAUNCHER_MAX_MEMBERS)",
  },
  {
    name: "L2.3 one member 2 000 directories deep, against LAUNCHER_MAX_MEMBERS=1000",
    code: refused("deep-name"),
    env: { LAUNCHER_MAX_MEMBERS: "1000" },
    message: "launcher: /code: more than 1000 members, counting the directories they are in (limit: LAUNCHER_MAX_MEMBERS)",
  },
  {
    name: "L2.3 more content than LAUNCHER_MAX_BYTES",
    code: () => tgz({ a: "x".repeat(600), b: "x".repeat(600) }),
    env: { LAUNCHER_MAX_BYTES: "1000" },
    message: "launcher: /code: content exceeds 1000 bytes at './b' (limit: LAUNCHER_MAX_BYTES)",
  },
  {
    name: "L2.3 2 048 hardlinks to a 1 MiB file (2 GiB as copies, in a few KB)",
    code: refused("hardlink-copies"),
    message: /^launcher: \/code: content exceeds 1073741824 bytes at 'copy-0\d+' \(limit: LAUNCHER_MAX_BYTES\)$/,
  },
  {
    name: "L2.3 a sparse file whose map claims 100 GiB",
    code: refused("sparse-bomb"),
    message: said("sparse-bomb"),
  },
  { name: "L2.3 a GNU long name header of 2 GiB in 2 MB", code: refused("long-name-2g"), message: said("long-name-2g") },
  { name: "L2.3 a pax header of 2 GiB in 2 MB", code: refused("pax-header-2g"), message: said("pax-header-2g") },
  {
    name: "L2.3 a directory bundle over LAUNCHER_MAX_BYTES, as an archive",
    code: () => directoryWith({ a: "x".repeat(600), b: "x".repeat(600) }),
    env: { LAUNCHER_MAX_BYTES: "1000" },
    message: /^launcher: \/code: content exceeds 1000 bytes at '[ab]' \(limit: LAUNCHER_MAX_BYTES\)$/,
  },
  // L2.5: members that cannot be written
  {
    name: "L2.5 a zip holding café.txt composed and decomposed, which zip reading composes into one name",
    code: refused("zip-unicode-forms"),
    message: said("zip-unicode-forms"),
  },
  {
    name: "L2.5 a file over a directory that holds files",
    code: refused("file-over-directory"),
    message: said("file-over-directory"),
  },
  {
    name: "L2.5 a bundle larger than the job's /tmp (73, no space)",
    code: refused("large"),
    exitCode: 73,
    tmpBytes: 8 << 20,
    message: /^launcher: \/code: no space left in \/tmp\/job while extracting member 'data\/zeros-\d\.bin'; give the job a larger \/tmp$/,
  },
];

/** Run a job on the row's bundle: it is refused with the row's exit code and one line, the
 * command does not run, and nothing is left outside the root nor of the bundle inside it. */
async function expectRefused(row: Refusal): Promise<void> {
  const tmp = row.tmpBytes ? await smallVolume(row.tmpBytes) : undefined;
  try {
    const job = await runPython({
      code: await row.code(),
      env: row.env,
      configure: tmp ? (c) => c.withBindMounts([{ source: tmp.name, target: "/tmp" }]) : undefined,
      command: launch("echo", "ran"),
      timeoutMs: (row.within ?? 120) * 1000,
      listChanges: true,
    });
    expect(job.exitCode).toBe(row.exitCode ?? 65);
    expect(launcherLines(job.stderr)).toEqual([typeof row.message === "string" ? row.message : expect.stringMatching(row.message)]);
    expect(job.stderr).not.toMatch(/Traceback/);
    expect(job.stdout).toBe("");
    // Nothing outside the root, and nothing of the bundle left inside it (nor in a /tmp volume).
    const inTmp = tmp ? (await tmp.sh("cd /volume && find . -mindepth 1")).split("\n").filter(Boolean).map((name) => `/tmp/${name.slice(2)}`) : [];
    expect([...job.changes!, ...inTmp].filter((changed) => !allowed(changed))).toEqual([]);
  } finally {
    await tmp?.remove();
  }
}

// First in the file: the longest tests of the suite, which the others run beside.
describe("python faults: archives at the default member cap", () => {
  it("L2.3 100 001 tiny files are refused before anything runs, and nothing of them is left (L2.6)", { timeout: 300_000 }, () =>
    expectRefused({
      name: "100 001 tiny files",
      code: refused("too-many-files"),
      // 100 000 are written before the one too many, then removed: on a tmpfs /tmp (room for
      // 100 000 pages), about 10 s alone, several times that beside the other tests.
      tmpBytes: 1 << 30,
      within: 240,
      message: "launcher: /code: more than 100000 members, counting the directories they are in (limit: LAUNCHER_MAX_MEMBERS)",
    }));

  it("L2.3 100 000 members (99 900 tiny files in 100 directories), at the cap, are extracted (on a tmpfs /tmp)", { timeout: 300_000 }, async () => {
    const job = await runPython({
      code: await scenarioBundle("many-files"),
      configure: (c) => c.withTmpFs({ "/tmp": "rw,exec,size=1g" }),
      command: launch("sh", "-c", "find . -mindepth 1 | wc -l; cat d099/f099899.txt"),
      timeoutMs: 240_000,
    });
    expect(job.stdout).toBe("100000\n99899\n");
    expect(job.exitCode).toBe(0);
  });
});

describe("python faults: archives", () => {
  it.each(refusals)("$name is refused before anything runs, and nothing of it is left (L2.6)", (row) => expectRefused(row));

  it("L2.3 a decompression bomb is refused at its header, before its data is written", async () => {
    const job = await runPython({
      code: await scenarioBundle("bomb"),
      // Were the bomb's data written up to the cap, this /tmp would fill up first (73, as for
      // a bundle larger than /tmp).
      configure: (c) => c.withTmpFs({ "/tmp": "rw,exec,size=16m" }),
      command: launch("echo", "ran"),
    });
    expect(launcherLines(job.stderr)).toEqual(["launcher: /code: content exceeds 1073741824 bytes at 'zeros.bin' (limit: LAUNCHER_MAX_BYTES)"]);
    expect(job.exitCode).toBe(65);
  });

  it("L2.2 setuid and setgid bits are dropped and archive owners are not applied", async () => {
    const job = await runPython({ code: await scenarioBundle("setuid"), command: launch("stat", "-c", "%a %u", "tool") });
    expect(job.stdout).toBe("755 0\n");
    expect(job.exitCode).toBe(0);
  });

  it("L2.5 names with spaces, unicode and bytes that are not UTF-8 are extracted byte for byte", async () => {
    const job = await runPython({
      code: await scenarioBundle("names"),
      env: { LC_ALL: "C" },
      command: launch("python", "-c", "import os; print(*sorted(name.hex() for name in os.listdir(b'.')))"),
    });
    const expected = ["main.py", "with space.txt", "ünïcødé-名前.txt"].map((name) => Buffer.from(name));
    expected.push(Buffer.from("latin1-caf\xe9.txt", "latin1"));
    expect(job.stdout).toBe(`${expected.map((name) => name.toString("hex")).sort().join(" ")}\n`);
    expect(job.exitCode).toBe(0);
  });

  it("L1.7 a pyvenv.cfg reached through the bundle's links (d -> ., s -> d/.., u -> s/job/d/../..) removes nothing outside the root", async () => {
    const job = await runPython({
      code: await scenarioBundle("venv-through-links"),
      outputs: { "earlier.txt": "earlier results\n" },
      // A folder beside the root, which s/victim/pyvenv.cfg names through the links.
      entrypoint: ["sh", "-c", "mkdir /tmp/victim && echo keep > /tmp/victim/keep.txt && exec /usr/bin/tini -- /build/launcher.py -- echo ran"],
      listChanges: true,
    });
    expect(job.exitCode).toBe(65);
    expect(launcherLines(job.stderr)).toEqual([member("s", "symlink points outside the bundle through the links made after it")]);
    expect(job.outputs["earlier.txt"]?.toString()).toBe("earlier results\n");
    expect(Object.keys(job.outputs).sort()).toEqual(["earlier.txt", "requirements.log"]);
    expect(job.changes).toContain("/tmp/victim/keep.txt");
    expect(job.stdout).toBe("");
  });

  it.each([
    ["a v7 tar (no ustar magic)", "v7.tar", "hello from v7\n"],
    ["a zipapp (a zip after a #! line)", "zipapp", "hello from a zipapp\n"],
  ])("L1.6 %s is extracted and runs", async (_, scenario, stdout) => {
    const job = await runPython({ code: await scenarioBundle(scenario), command: launch("sh", "-c", "python *.py") });
    expect(job.stdout).toBe(stdout);
    expect(job.exitCode).toBe(0);
  });

  it("L2.5 a pax tar with café.txt composed and decomposed: two files, each named byte for byte", async () => {
    const job = await runPython({
      code: await scenarioBundle("unicode-forms.tar"),
      command: launch("python", "-c", "import os; print(*sorted(f'{n.hex()}={open(n).read().strip()}' for n in os.listdir(b'.')))"),
    });
    const hex = (name: string) => Buffer.from(name).toString("hex");
    expect(job.stdout).toBe(`${[`${hex("caf\u00e9.txt")}=composed`, `${hex("cafe\u0301.txt")}=decomposed`].sort().join(" ")}\n`);
    expect(job.exitCode).toBe(0);
  });

  it("L2.1 a directory bundle's FIFO is refused as an archive's, never opened", async () => {
    const dir = await tree({ "main.py": "print(1)\n" });
    await execa("mkfifo", [path.join(dir, "pipe")]);
    // Mounted as it is (the suite's copy of a folder cannot copy a FIFO); a read of it would block.
    const job = await runPython({
      configure: (c) => c.withBindMounts([{ source: dir, target: "/code", mode: "ro" }]),
      command: launch("echo", "ran"),
      timeoutMs: 60_000,
    });
    expect(job.exitCode).toBe(65);
    expect(launcherLines(job.stderr)).toEqual([member("pipe", "device or FIFO")]);
    expect(job.stdout).toBe("");
  });

  it.each([
    ["a FIFO", "fifo"],
    ["a device (/dev/zero)", "device"],
  ])("L1.6 /code that is %s is refused at once, never read", async (_, kind) => {
    const dir = await tempDir();
    const source = kind === "fifo" ? path.join(dir, "code") : "/dev/zero";
    if (kind === "fifo") await execa("mkfifo", [source]);
    const job = await runPython({
      configure: (c) => c.withBindMounts([{ source, target: "/code", mode: "ro" }]).withMemoryLimit(256 << 20),
      command: launch("echo", "ran"),
      timeoutMs: 60_000,
    });
    expect(job.exitCode).toBe(65);
    expect(launcherLines(job.stderr)).toEqual([
      `launcher: /code is ${kind === "fifo" ? "a FIFO" : "a device"}, not a bundle file; make the bundle with: tar czf bundle.tgz -C DIR . (or zip it)`,
    ]);
    expect(job.stdout).toBe("");
  });

  it("L1.2 a directory bundle 1 300 directories deep is copied whole", async () => {
    const dir = await tree({ "main.py": "print(1)\n" });
    const deep = path.join(dir, ...Array<string>(1300).fill("e"));
    await mkdir(deep, { recursive: true });
    await writeFile(path.join(deep, "f.txt"), "deep\n");
    const job = await runPython({ code: { path: dir }, command: launch("sh", "-c", `cat ${Array<string>(1300).fill("e").join("/")}/f.txt`) });
    expect(job.stdout).toBe("deep\n");
    expect(job.exitCode).toBe(0);
  });

  it.each([
    ["a member that appears twice: the later one wins, as with tar", "duplicates", "python main.py", "second\n"],
    ["a file over an empty directory replaces it", "replace-empty-directory", "cat data", "a file now\n"],
    ["a modification time of 2^80 seconds is extracted with one that fits", "mtime-2-80", "python late.py && echo ok", "ok\n"],
  ])("L2.5 %s", async (_, scenario, command, stdout) => {
    const job = await runPython({ code: await scenarioBundle(scenario), command: launch("sh", "-c", command) });
    expect(job.stdout).toBe(stdout);
    expect(job.exitCode).toBe(0);
  });

  it.each([
    { setting: "LAUNCHER_WORKDIR", restrict: false, found: "is not an empty directory" },
    { setting: "LAUNCHER_JOB_ENV", restrict: true, found: "is neither an environment nor empty" },
  ])("L2.6 a $setting that is not empty is not the launcher's to delete (73)", async ({ setting, restrict, found }) => {
    const job: Omit<Job, "image"> = {
      code: await tgz({ ...hello, "requirements.txt": "greeting==1.0.0\n" }),
      outputs: { "result.csv": "earlier results\n" },
      env: { [setting]: "/outputs" },
      command: launch("echo", "ran"),
    };
    const result = await runPython(restrict ? restricted(job) : job);
    expect(result.exitCode).toBe(73);
    expect(launcherLines(result.stderr)).toEqual([
      `launcher: /outputs already exists and ${found}, and the launcher never deletes what it did not make; set ${setting} to a new or empty directory`,
    ]);
    expect(result.outputs["result.csv"]?.toString()).toBe("earlier results\n");
    expect(result.stdout).toBe("");
  });

  it("L2.6 a second run in the same container (a restart) replaces what the first extracted", async () => {
    const job = await runPython({
      code: await tgz(hello),
      // The job runs the launcher once more, in the directory the first run made.
      command: launch("sh", "-c", "echo stale > stale.txt && cd / && /build/launcher.py -- sh -c 'ls; python main.py'"),
    });
    expect(job.stdout).toBe("main.py\nhello from the bundle\n");
    expect(job.exitCode).toBe(0);
  });

  // The working directory on a folder that outlives its container: what one container's job
  // left there is another's to keep, whatever mark the first launcher left beside it.
  const onShared = async (shared: string, bundle: string, name?: string) => {
    const args = ["-v", `${shared}:/shared`, "-v", `${bundle}:/code:ro`, "-e", "LAUNCHER_WORKDIR=/shared/job"];
    const label = ["--label", `${RUN_LABEL}=${inject("runLabel")}`];
    const command = [pythonImage(), "/build/launcher.py", "--", "sh", "-c", "ls; echo precious > result.txt"];
    return name
      ? execa("docker", ["create", "--name", name, ...label, ...args, ...command])
      : execa("docker", ["run", "--rm", ...label, ...args, ...command], { reject: false });
  };

  it("L2.6 another container finds the working directory an earlier one left: exit 73, its results kept", async () => {
    const shared = await tempDir();
    const bundle = path.join(await tempDir(), "bundle.tgz");
    await writeFile(bundle, await tgz(hello));
    const first = await onShared(shared, bundle);
    expect([first.exitCode, first.stdout]).toEqual([0, "main.py"]);
    const second = await onShared(shared, bundle);
    expect(second.exitCode).toBe(73);
    expect(launcherLines(second.stderr)).toEqual([expect.stringMatching(/^launcher: \/shared\/job already exists and is not an empty directory, and the launcher never deletes what it did not make/)]);
    expect((await readFile(path.join(shared, "job", "result.txt"), "utf8"))).toBe("precious\n");
  });

  it("L2.6 the same container started again (docker start) replaces what its first run extracted", async () => {
    const shared = await tempDir();
    const bundle = path.join(await tempDir(), "bundle.tgz");
    await writeFile(bundle, await tgz(hello));
    const name = `restarted-${randomUUID()}`;
    await onShared(shared, bundle, name);
    try {
      for (const run of [1, 2]) {
        const started = await execa("docker", ["start", "--attach", name], { reject: false });
        expect([run, started.exitCode, started.stdout]).toEqual([run, 0, "main.py"]);
      }
    } finally {
      await execa("docker", ["rm", "--force", name]);
    }
  });
});
