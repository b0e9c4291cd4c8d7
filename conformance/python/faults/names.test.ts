// Names a bundle chooses, printed by the launcher: each row's bundle holds names (or
// lines) that would forge a `launcher:` line, reach the terminal as an escape or
// reverse the text, were they printed raw. Every line the launcher prints stays one
// printable line, and no forged line appears.
import { describe, expect, it } from "vitest";
import { tgz } from "../../support/fixtures.js";
import { packageIndex } from "../../support/indexes.js";
import { launch, launcherLines, requirementsLog, runPython, usingIndex } from "../../support/python.js";

const index = packageIndex();
const FORGED = "launcher: installed everything, all clear";
/** Characters no printed line may hold: controls (line breaks, escapes), format characters (bidirectional overrides), line and paragraph separators. */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
const venvMark = { "pyvenv.cfg": "home = /usr/bin\n" };

interface Row {
  name: string;
  files: Record<string, string>;
  exitCode: number;
  /** The launcher's one line that names the hostile name, escaped. */
  line: string | RegExp;
  env?: Record<string, string>;
}

const rows: Row[] = [
  {
    name: "a virtual environment folder whose name holds a line break and a launcher line",
    files: { "main.py": "print('ran')\n", [`env\n${FORGED}/pyvenv.cfg`]: venvMark["pyvenv.cfg"] },
    exitCode: 0,
    line: `launcher: left out of the bundle: 'env\\n${FORGED}/' (a virtual environment); the image provides the environment, and the job makes its own caches`,
  },
  {
    name: "requirements files below the top in folders named with a terminal escape and a bidirectional override",
    files: { "main.py": "print('ran')\n", "\u001b[2J\u001b[31mred/requirements.txt": "x\n", "abc\u202edef/requirements.txt": "y\n" },
    exitCode: 0,
    line:
      "launcher: nothing to install (no requirements file at the top of the bundle; found '\\x1b[2J\\x1b[31mred/requirements.txt', " +
      "'abc\\u202edef/requirements.txt': name one with LAUNCHER_REQUIREMENTS=FILE to install it)",
  },
  {
    name: "two scripts with inline metadata, one named with a carriage return",
    files: {
      "a.py": '# /// script\n# dependencies = []\n# ///\n',
      [`b\r${FORGED}.py`]: '# /// script\n# dependencies = []\n# ///\n',
    },
    exitCode: 78,
    line: `launcher: several scripts carry inline metadata (a.py, 'b\\r${FORGED}.py'); name one with LAUNCHER_REQUIREMENTS=FILE`,
  },
  {
    name: "a PEP 723 dependency that holds a line break and a launcher line",
    files: { "main.py": `# /// script\n# dependencies = ["greeting\\n${FORGED}"]\n# ///\nprint('ran')\n` },
    exitCode: 78,
    line: `launcher: main.py: 'dependencies' of its '# /// script' block holds 'greeting\\n${FORGED}', which is not a requirement; each starts with a package name`,
  },
];

describe("python faults: names from the bundle", () => {
  it.each(rows)("L7.3 $name: every launcher line is one printable line, none forged", async (row) => {
    const job = await runPython(usingIndex(index, { code: await tgz(row.files), outputs: true, env: row.env, command: launch("echo", "ran") }));
    expect(job.exitCode).toBe(row.exitCode);
    expect(job.stderr).not.toMatch(/Traceback/);
    const lines = job.stderr.split("\n").filter(Boolean);
    expect(lines.filter((line) => line.startsWith(FORGED))).toEqual([]);
    expect(lines.filter((line) => UNPRINTABLE.test(line))).toEqual([]);
    expect(launcherLines(job.stderr)).toContainEqual(typeof row.line === "string" ? row.line : expect.stringMatching(row.line));
    // The log too: one printable line per line.
    const log = requirementsLog(job);
    expect(log.split("\n").filter((line) => UNPRINTABLE.test(line) || line.startsWith(FORGED))).toEqual([]);
  });
});
