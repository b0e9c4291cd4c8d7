import { describe, expect, it } from "vitest";
import { tgz } from "../support/fixtures.js";
import { launch, launcherLines, runPython } from "../support/python.js";

const printArgv = ["python", "-c", "import json, sys; print(json.dumps(sys.argv[1:]))"];

describe("python: invocation", () => {
  it("L0.1 arguments after -- arrive byte for byte, without a shell", async () => {
    const args = ["a b", "'single'", '"double"', "$HOME", "--", "line1\nline2", "*", "", "ünï"];
    const job = await runPython({ command: launch(...printArgv, ...args) });
    expect(job.exitCode).toBe(0);
    expect(JSON.parse(job.stdout)).toEqual(args);
  });

  it.each([
    ["no --", ["/build/launcher.py"]],
    ["nothing after --", ["/build/launcher.py", "--"]],
    ["the image's default command", undefined],
  ])("L0.2 %s is a usage error (64)", async (_, command) => {
    const job = await runPython({ command });
    expect(job.exitCode).toBe(64);
    expect(launcherLines(job.stderr)).toEqual([expect.stringMatching(/^launcher: no command.*usage: /)]);
    expect(job.stdout).toBe("");
  });
});

describe("python: the launcher's own failures", () => {
  const notExecutable = () => tgz({ "run.sh": "#!/bin/sh\necho ran\n" });
  it.each([
    { name: "usage", code: 64, message: /no command/, job: async () => ({ command: ["/build/launcher.py"] }) },
    {
      name: "bad bundle",
      code: 65,
      message: /\/code is not a tar or zip archive/,
      job: async () => ({ code: Buffer.from("not an archive\n"), command: launch("true") }),
    },
    {
      name: "install failed",
      code: 69,
      message: /installing requirements.txt failed/,
      job: async () => ({
        code: await tgz({ "requirements.txt": "greeting==1.0.0\n" }),
        env: { PIP_NO_INDEX: "1" },
        command: launch("true"),
      }),
    },
    {
      name: "no writable place",
      code: 73,
      message: /cannot create \/tmp\/job/,
      job: async () => ({ readOnlyRoot: true, command: launch("true") }),
    },
    {
      name: "unsupported requirements",
      code: 78,
      message: /found environment\.yml \(conda\), which is not supported/,
      job: async () => ({ code: await tgz({ "environment.yml": "dependencies: [numpy]\n" }), command: launch("true") }),
    },
    {
      name: "command not executable",
      code: 126,
      message: /command '\.\/run\.sh' is not executable \(chmod \+x it/,
      job: async () => ({ code: await notExecutable(), command: launch("./run.sh") }),
    },
    {
      name: "command not found",
      code: 127,
      message: /command not found on PATH: 'no-such-command'/,
      job: async () => ({ command: launch("no-such-command") }),
    },
  ])("L7.1 $name: exit $code and one launcher: line, no traceback", async ({ code, message, job }) => {
    const result = await runPython(await job());
    expect(result.exitCode).toBe(code);
    const ownLines = launcherLines(result.stderr).filter((line) => !/nothing to install|no code bundle/.test(line));
    expect(ownLines).toEqual([expect.stringMatching(message)]);
    expect(result.stderr).not.toMatch(/Traceback/);
  });
});

describe("python: a bug in the launcher", () => {
  const ownLines = (stderr: string) => launcherLines(stderr).filter((line) => !/no code bundle/.test(line));
  // A bug cannot be provoked by any input (that is the point of exit 70), so this runs the image's
  // launcher with one stage replaced by code that raises, the way /build/launcher.py runs it.
  const withBug = [
    "/usr/bin/python3", "-IS", "-c",
    "import sys; sys.path.insert(0, '/build/lib'); from launcher import detect, main; " +
      "detect.plan = lambda *args: {}['a key the launcher never had']; sys.exit(main.main(sys.argv[1:]))",
    "--", "echo", "the job ran",
  ];

  it("L7.1 exit 70, one launcher: line that names the error and LAUNCHER_DEBUG, no traceback, and the job does not run", async () => {
    const job = await runPython({ entrypoint: [], command: withBug, outputs: true });
    expect(job.exitCode).toBe(70);
    expect(ownLines(job.stderr)).toEqual([
      expect.stringMatching(/^launcher: internal error: KeyError: .*a key the launcher never had.*; set LAUNCHER_DEBUG=1 for the traceback$/),
    ]);
    expect(job.stderr).not.toMatch(/Traceback/);
    expect(job.stdout).toBe("");
  });

  it("L7.2 LAUNCHER_DEBUG=1: the same exit 70 and line, then the traceback of the bug", async () => {
    const job = await runPython({ entrypoint: [], command: withBug, env: { LAUNCHER_DEBUG: "1" } });
    expect(job.exitCode).toBe(70);
    expect(ownLines(job.stderr)).toEqual([expect.stringMatching(/^launcher: internal error: KeyError: /)]);
    expect(job.stderr).toMatch(/Traceback \(most recent call last\):\n[\s\S]*in <lambda>\n[\s\S]*KeyError: 'a key the launcher never had'\n$/);
    expect(job.stdout).toBe("");
  });
});
