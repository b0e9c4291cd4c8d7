// What users of the official images expect of any image (docker-library's
// official-images test suite: the generic checks, and the python image's), and one
// DuckDB across both images.
import { describe, expect, it } from "vitest";
import { duckdbImage, pythonImage } from "./support/images.js";
import { PYTHON_VERSION } from "./support/versions.js";
import { runJob } from "./support/job.js";
import { pythonCode, runPython } from "./support/python.js";

const images: [string, () => string][] = [
  [`exec-python-${PYTHON_VERSION}`, pythonImage],
  ["exec-duckdb", duckdbImage],
];

/** Run one program as the image's only process, bypassing its entrypoint, as the official checks do. */
const direct = (image: string, entrypoint: string, ...args: string[]) =>
  runJob({ image, entrypoint: [entrypoint], command: args, user: "0:0" });

/** The standard library of the official python image that a Linux image cannot have (Windows and macOS modules). */
const NOT_ON_LINUX = ["_msi", "_overlapped", "_scproxy", "_winapi", "msilib", "msvcrt", "nt", "winreg", "winsound"];
/** Left out on purpose: Tk and what needs it (a job has no display; 19 MB of X11 and Tcl/Tk). */
const WITHOUT_TK = ["_tkinter", "idlelib", "tkinter", "turtle", "turtledemo"];

describe("official images' checks", () => {
  it.each(images)("P1.1 %s: the clock is UTC", async (_, image) => {
    const job = await direct(image(), "date", "+%Z");
    expect(job.stdout).toBe("UTC\n");
    expect(job.exitCode).toBe(0);
  });

  it.each(images)("P1.1 %s: a command replaces the image's command, with or without its entrypoint", async (_, image) => {
    const hello = `Hello world-${Math.floor(Math.random() * 1e9)}`;
    const withEntrypoint = await runJob({ image: image(), command: ["echo", hello] });
    expect([withEntrypoint.exitCode, withEntrypoint.stdout]).toEqual([0, `${hello}\n`]);
    const replaced = await direct(image(), "echo", hello);
    expect([replaced.exitCode, replaced.stdout]).toEqual([0, `${hello}\n`]);
  });

  it.each(images)("P1.1 %s: no account has an empty or hard-coded password", async (_, image) => {
    const passwd = await direct(image(), "cut", "-d:", "-f1-2", "/etc/passwd");
    const shadow = await direct(image(), "cut", "-d:", "-f1-2", "/etc/shadow");
    expect([passwd.exitCode, shadow.exitCode]).toEqual([0, 0]);
    const fields = (text: string) => new Map(text.trim().split("\n").map((line) => line.split(":", 2) as [string, string]));
    const shadowed = fields(shadow.stdout);
    const accounts = [...fields(passwd.stdout)].map(([user, field]) => [user, field === "x" ? (shadowed.get(user) ?? "x") : field]);
    expect(accounts.length).toBeGreaterThan(10);
    expect(accounts.map(([user]) => user)).toContain("root");
    // "*" or "!..." lock the password; "x" defers to /etc/shadow; empty or a crypt hash ("$id$...") would let someone in.
    const open = accounts.filter(([, password]) => !(password === "*" || password === "x" || password!.startsWith("!")));
    expect(open).toEqual([]);
  });

  it.each(images)("P1.2 %s: LANG is C.UTF-8", async (_, image) => {
    const job = await runJob({ image: image(), command: ["sh", "-c", 'printf "%s\\n" "$LANG"'] });
    expect(job.stdout).toBe("C.UTF-8\n");
  });

  it(`P1.2 exec-python-${PYTHON_VERSION}: a job's text is UTF-8 without configuration`, async () => {
    const job = await runPython({
      command: pythonCode("import locale, sys; print(locale.getpreferredencoding(), sys.getfilesystemencoding(), sys.stdout.encoding, 'é')"),
    });
    expect(job.stdout).toBe("UTF-8 utf-8 utf-8 é\n");
    expect(job.exitCode).toBe(0);
  });

  it("P1.2 exec-duckdb: text passes through as UTF-8", async () => {
    const job = await runJob({ image: duckdbImage(), command: ["-csv", "-c", "SELECT 'é' || chr(8364) AS text, length('é€') AS n"] });
    // The CLI's CSV mode quotes text that is not ASCII; the bytes inside are UTF-8.
    expect(job.stdout).toBe('text,n\n"é€",2\n');
    expect(job.exitCode).toBe(0);
  });

  // python-imports, as the official check runs it: the interpreter at /usr/local/bin/python3.
  it(`P1.3 exec-python-${PYTHON_VERSION}: python-imports, with /usr/local/bin/python3 running the default environment`, async () => {
    const script = [
      "import sys, importlib.util",
      "import curses, readline, dbm.gnu, dbm.ndbm, sqlite3, ssl, bz2, zlib, lzma",
      "data = b'IT WORKS IT WORKS IT WORKS'",
      "assert bz2.decompress(bz2.compress(data)) == data",
      "assert zlib.decompress(zlib.compress(data)) == data",
      "assert lzma.decompress(lzma.compress(data)) == data",
      "print(sys.prefix, [importlib.util.find_spec(m) is not None for m in ('setuptools', 'wheel', 'pandas')])",
    ].join("\n");
    for (const python of ["/usr/local/bin/python3", "/usr/local/bin/python", `/usr/local/bin/python${PYTHON_VERSION}`]) {
      const job = await direct(pythonImage(), python, "-c", script);
      expect(job.stderr, python).toBe("");
      expect(job.stdout, python).toBe("/opt/venv [True, True, True]\n");
    }
    const pip = await direct(pythonImage(), "/usr/local/bin/pip", "--version");
    expect(pip.stdout).toMatch(/^pip \S+ from \/opt\/venv\/lib\/python3\.11\/site-packages\/pip /);
  });

  it(`P1.3 exec-python-${PYTHON_VERSION}: the standard library of python:${PYTHON_VERSION} imports, but for Tk`, async () => {
    const script = [
      "import importlib, sys, warnings",
      "warnings.simplefilter('ignore')",
      // antigravity opens a web browser and this prints a poem: their import is their whole effect.
      "failed = []",
      "for name in sorted(sys.stdlib_module_names - {'antigravity', 'this'}):",
      "    try: importlib.import_module(name)",
      "    except ImportError: failed.append(name)",
      "print(len(sys.stdlib_module_names), ' '.join(failed))",
    ].join("\n");
    const job = await runPython({ command: pythonCode(script) });
    expect(job.exitCode).toBe(0);
    const [count, ...failed] = job.stdout.trim().split(" ");
    expect(Number(count)).toBeGreaterThan(250);
    expect(failed.sort()).toEqual([...NOT_ON_LINUX, ...WITHOUT_TK].sort());
  });

  it(`P1.3 exec-python-${PYTHON_VERSION}: python-sqlite3 and python-stack-size`, async () => {
    const sqlite = [
      "import sqlite3",
      "con = sqlite3.connect(':memory:', timeout=1, detect_types=sqlite3.PARSE_DECLTYPES, isolation_level=None)",
      "cur = con.cursor()",
      "cur.execute('CREATE TABLE test (id INT, txt TEXT)')",
      "cur.execute('INSERT INTO test VALUES (?, ?)', (42, 'wut'))",
      "print(cur.execute('SELECT * FROM test').fetchall(), sqlite3.sqlite_version_info >= (3, 40))",
    ].join("\n");
    const stack = [
      "import threading",
      "def deeper(i):",
      "    try: deeper(i + 1)",
      "    except RecursionError: print('RecursionError', i > 900)",
      "t = threading.Thread(target=deeper, args=[1]); t.start(); t.join()",
    ].join("\n");
    for (const [script, expected] of [
      [sqlite, "[(42, 'wut')] True\n"],
      [stack, "RecursionError True\n"],
    ] as const) {
      const official = await direct(pythonImage(), "/usr/local/bin/python3", "-c", script);
      const asJob = await runPython({ command: pythonCode(script) });
      for (const job of [official, asJob]) expect([job.exitCode, job.stdout]).toEqual([0, expected]);
    }
  });
});
