// Hostile and broken code bundles: each row is the bundle, what the launcher
// must answer (exit code and its one line), and what must hold afterwards.
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { scenarioTar, tempDir, tgz } from "../../support/fixtures.js";
import type { Job } from "../../support/job.js";
import { launch, launcherLines, runPython } from "../../support/python.js";

const hello = { "main.py": 'print("hello from the bundle")\n' };
const zip = () => Buffer.from("PK\x03\x04\x14\x00\x00\x00rest of a zip");

/** Where a refused bundle may leave traces: the copied-in /code and the extraction root. */
const insideRoot = (changed: string) =>
  ["/code", "/tmp", "/tmp/job"].includes(changed) || changed.startsWith("/code/") || changed.startsWith("/tmp/job/");

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
  env?: Record<string, string>;
  configure?: Job["configure"];
}

const refused: Refusal[] = [
  // L1.6: not a bundle at all
  { name: "L1.6 a text file", code: async () => Buffer.from("print('hi')\n"), message: /\/code is not a tar archive; make the bundle with: tar czf/ },
  { name: "L1.6 a truncated gzip stream", code: async () => (await tgz(hello)).subarray(0, 30), message: /\/code: gzip archive is truncated or corrupt/ },
  { name: "L1.6 a zip file", code: async () => zip(), message: /\/code is a zip archive; bundles are tar files/ },
  {
    name: "L1.6 a zip file named bundle.tgz in a /code directory",
    code: () => codeDirectory("bundle.tgz", zip()),
    message: /\/code\/bundle\.tgz is a zip archive; bundles are tar files/,
  },
  {
    name: "L1.6 a text file named bundle.tar.gz in a /code directory",
    code: () => codeDirectory("bundle.tar.gz", Buffer.from("not an archive\n")),
    message: /\/code\/bundle\.tar\.gz is not a tar archive/,
  },
  { name: "L1.6 an archive with no members", code: () => scenarioTar("empty"), message: "launcher: /code is an empty archive; the bundle holds no files" },
  // L2.1: members that would land outside the root
  { name: "L2.1 an absolute path", code: () => scenarioTar("absolute"), message: "launcher: /code: refused member '/tmp/escaped-absolute': absolute path" },
  { name: "L2.1 a ../ traversal", code: () => scenarioTar("traversal"), message: "launcher: /code: refused member '../escaped-traversal': path leaves the bundle" },
  {
    name: "L2.1 a ../ traversal in a name that is not UTF-8",
    code: () => scenarioTar("names-traversal"),
    message: "launcher: /code: refused member '../caf\\udce9-escaped': path leaves the bundle",
  },
  {
    name: "L2.1 a symlink to an absolute path, then a file written through it",
    code: () => scenarioTar("symlink-escape"),
    message: "launcher: /code: refused member 'link': symlink to absolute path '/tmp'",
  },
  {
    name: "L2.1 a symlink that climbs out, then a file written through it",
    code: () => scenarioTar("symlink-dotdot"),
    message: "launcher: /code: refused member 'up': symlink to '..' points outside the bundle",
  },
  {
    name: "L2.1 a symlink that a later symlink turns outwards, then a file written through it",
    code: () => scenarioTar("symlink-later-link"),
    message: "launcher: /code: refused member 'x/escaped-later-link': path leaves the bundle",
  },
  {
    name: "L2.1 a hardlink to a file outside",
    code: () => scenarioTar("hardlink-escape"),
    message: "launcher: /code: refused member 'passwd': hardlink to '../../etc/passwd' points outside the bundle",
  },
  { name: "L2.1 a device node", code: () => scenarioTar("device"), message: "launcher: /code: refused member 'null': device or FIFO" },
  { name: "L2.1 a FIFO", code: () => scenarioTar("fifo"), message: "launcher: /code: refused member 'pipe': device or FIFO" },
  // L2.3: the caps
  {
    name: "L2.3 a decompression bomb (4 MB holding 4 GiB)",
    code: () => scenarioTar("bomb"),
    message: "launcher: /code: content exceeds 1073741824 bytes at 'zeros.bin' (limit: LAUNCHER_MAX_BYTES)",
  },
  {
    name: "L2.3 100 001 tiny files",
    code: () => scenarioTar("too-many-files"),
    message: "launcher: /code: more than 100000 members (limit: LAUNCHER_MAX_MEMBERS)",
  },
  {
    name: "L2.3 more members than LAUNCHER_MAX_MEMBERS",
    code: () => tgz({ a: "", b: "", c: "" }),
    env: { LAUNCHER_MAX_MEMBERS: "2" },
    message: /^launcher: \/code: more than 2 members \(limit: LAUNCHER_MAX_MEMBERS\)$/,
  },
  {
    name: "L2.3 more content than LAUNCHER_MAX_BYTES",
    code: () => tgz({ a: "x".repeat(600), b: "x".repeat(600) }),
    env: { LAUNCHER_MAX_BYTES: "1000" },
    message: /^launcher: \/code: content exceeds 1000 bytes at '\.\/b' \(limit: LAUNCHER_MAX_BYTES\)$/,
  },
  // L2.5: members that cannot be written
  {
    name: "L2.5 a file over a directory of the same name",
    code: () => scenarioTar("file-over-directory"),
    message: "launcher: /code: cannot extract member 'data' (Is a directory)",
  },
  {
    name: "L2.5 a bundle larger than the job's /tmp",
    code: () => scenarioTar("large"),
    configure: (c) => c.withTmpFs({ "/tmp": "rw,exec,size=8m" }),
    message: /^launcher: \/code: no space left in \/tmp\/job while extracting member 'data\/zeros-\d\.bin'; give the job a larger \/tmp$/,
  },
];

describe("python faults: archives", () => {
  it.each(refused)("$name is refused (65) before anything runs, with nothing outside the root", async (row) => {
    const started = performance.now();
    const job = await runPython({ code: await row.code(), env: row.env, configure: row.configure, command: launch("echo", "ran") });
    expect(job.exitCode).toBe(65);
    expect(launcherLines(job.stderr)).toEqual([typeof row.message === "string" ? row.message : expect.stringMatching(row.message)]);
    expect(job.stderr).not.toMatch(/Traceback/);
    expect(job.stdout).toBe("");
    expect(job.changes.filter((changed) => !insideRoot(changed))).toEqual([]);
    // A hang detector, with a wide margin for a busy machine (the bomb's refusal took 24 s
    // under the full suite on 2 cores). That the bomb wrote nothing is a test of its own.
    expect((performance.now() - started) / 1000).toBeLessThan(120);
  });

  it("L2.3 a decompression bomb is refused before any of it is written", async () => {
    const job = await runPython({ code: await scenarioTar("bomb"), command: launch("echo", "ran") });
    expect(job.exitCode).toBe(65);
    expect(job.changes.filter((changed) => changed.startsWith("/tmp/job/"))).toEqual([]);
  });

  it("L2.3 100 000 tiny files, at the cap, are extracted (on a tmpfs /tmp)", async () => {
    const job = await runPython({
      code: await scenarioTar("many-files"),
      configure: (c) => c.withTmpFs({ "/tmp": "rw,exec,size=1g" }),
      command: launch("sh", "-c", "find . -type f | wc -l; cat d099/f099999.txt"),
    });
    expect(job.stdout).toBe("100000\n99999\n");
    expect(job.exitCode).toBe(0);
  });

  it("L2.2 setuid and setgid bits are dropped and archive owners are not applied", async () => {
    const job = await runPython({ code: await scenarioTar("setuid"), command: launch("stat", "-c", "%a %u", "tool") });
    expect(job.stdout).toBe("755 0\n");
    expect(job.exitCode).toBe(0);
  });

  it("L2.5 names with spaces, unicode and bytes that are not UTF-8 are extracted byte for byte", async () => {
    const job = await runPython({
      code: await scenarioTar("names"),
      command: launch("python", "-c", "import os; print(*sorted(name.hex() for name in os.listdir(b'.')))"),
    });
    const expected = ["main.py", "with space.txt", "ünïcødé-名前.txt"].map((name) => Buffer.from(name));
    expected.push(Buffer.from("latin1-caf\xe9.txt", "latin1"));
    expect(job.stdout).toBe(`${expected.map((name) => name.toString("hex")).sort().join(" ")}\n`);
    expect(job.exitCode).toBe(0);
  });

  it("L2.5 a member that appears twice: the later one wins, as with tar", async () => {
    const job = await runPython({ code: await scenarioTar("duplicates"), command: launch("python", "main.py") });
    expect(job.stdout).toBe("second\n");
    expect(job.exitCode).toBe(0);
  });
});
