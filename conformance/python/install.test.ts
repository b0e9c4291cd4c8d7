import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir, tgz } from "../support/fixtures.js";
import { packageIndex, packageIndexCa } from "../support/indexes.js";
import { launch, launcherLines, requirementsLog, restricted, runPython, usingIndex } from "../support/python.js";
import { PYTHON_VERSION } from "../support/versions.js";

const index = packageIndex();
const decoys = packageIndex("decoys");

const wants = (requirements: string) => tgz({ "requirements.txt": requirements });
const whereFrom = launch("python", "-c", "import greeting, numpy, pandas; print(greeting.hello(), greeting.__file__)");
const summary = /^launcher: installed requirements.txt with (uv|pip): 1 packages in \d+\.\d s$/;

describe("python: installing requirements", () => {
  it("L4.1 into /opt/venv, with the default libraries still importable", async () => {
    const job = await runPython(usingIndex(index, { code: await wants("greeting==1.0.0\n"), command: whereFrom }));
    expect(job.stdout).toBe(`hello from greeting 1.0.0 /opt/venv/lib/python${PYTHON_VERSION}/site-packages/greeting.py\n`);
    expect(job.exitCode).toBe(0);
  });

  it("L4.2 as a non-root uid, into /tmp/job-env layered over /opt/venv", async () => {
    const job = await runPython(
      usingIndex(index, restricted({ code: await wants("greeting==1.0.0\n"), command: whereFrom })),
    );
    expect(job.stderr).not.toMatch(/Traceback/);
    expect(job.stdout).toBe(`hello from greeting 1.0.0 /tmp/job-env/lib/python${PYTHON_VERSION}/site-packages/greeting.py\n`);
    expect(launcherLines(job.stderr)).toContain("launcher: /opt/venv is not writable; installing into /tmp/job-env, layered over it");
    expect(job.exitCode).toBe(0);
  });

  it.each(["uv", "pip"])("L4.3 PIP_INDEX_URL is honoured by %s", async (installer) => {
    const own = packageIndex();
    const job = await runPython(
      usingIndex(own, { code: await wants("greeting==2.0.0\n"), env: { LAUNCHER_INSTALLER: installer }, command: whereFrom }),
    );
    expect(job.stdout).toMatch(/^hello from greeting 2.0.0 /);
    expect(launcherLines(job.stderr)).toContainEqual(expect.stringMatching(summary));
    expect(await own.requests()).toEqual(expect.arrayContaining(["/simple/greeting/", "/files/greeting-2.0.0-py3-none-any.whl"]));
  });

  it("L4.3 PIP_EXTRA_INDEX_URL is honoured", async () => {
    const job = await runPython(
      usingIndex(index, {
        code: await wants("greeting==2.0.0\n"),
        env: { PIP_INDEX_URL: `${index.url}nothing-here/`, PIP_EXTRA_INDEX_URL: index.url },
        command: whereFrom,
      }),
    );
    expect(job.stdout).toMatch(/^hello from greeting 2.0.0 /);
    expect(job.exitCode).toBe(0);
  });

  it("L4.3 PIP_NO_INDEX with PIP_FIND_LINKS installs from a folder, without any network", async () => {
    const wheels = await wheelsAsInputs();
    const job = await runPython({
      code: await wants("greeting==1.0.0\n"),
      inputs: wheels,
      env: { PIP_NO_INDEX: "1", PIP_FIND_LINKS: "/inputs/wheels" },
      configure: (c) => c.withNetworkMode("none"),
      command: whereFrom,
    });
    expect(job.stdout).toMatch(/^hello from greeting 1.0.0 /);
    expect(job.exitCode).toBe(0);
  });

  it.each(["PIP_CACHE_DIR", "UV_CACHE_DIR"])("L4.3 a cache directory given as %s is used", async (setting) => {
    const job = await runPython(
      usingIndex(index, {
        code: await wants("greeting==1.0.0\n"),
        outputs: true,
        env: { [setting]: "/outputs/cache" },
        command: launch("true"),
      }),
    );
    expect(job.exitCode).toBe(0);
    const cached = Object.keys(job.outputs).filter((name) => name.startsWith("cache/"));
    expect(cached.some((name) => name.includes("greeting"))).toBe(true);
  });

  it("L4.8 a cache the job cannot write: one line, and the install goes on without a cache", async () => {
    const cache = await tempDir();
    const job = await runPython(
      usingIndex(index, {
        code: await wants("greeting==1.0.0\n"),
        env: { UV_CACHE_DIR: "/cache" },
        configure: (c) => c.withBindMounts([{ source: cache, target: "/cache", mode: "ro" }]),
        command: whereFrom,
      }),
    );
    expect(job.stdout).toMatch(/^hello from greeting 1.0.0 /);
    expect(launcherLines(job.stderr)).toEqual([
      "launcher: the cache /cache cannot be used by uid 0 (not writable); installing without a cache",
      expect.stringMatching(summary),
    ]);
    expect(job.exitCode).toBe(0);
  });

  it("L4.8 a cache mounted from the host, another filesystem, is copied from, without uv's warning", async () => {
    const cache = await tempDir();
    const job = await runPython(
      usingIndex(index, {
        code: await wants("greeting==1.0.0\n"),
        env: { UV_CACHE_DIR: "/cache" },
        outputs: true,
        configure: (c) => c.withBindMounts([{ source: cache, target: "/cache", mode: "rw" }]),
        command: whereFrom,
      }),
    );
    expect(job.exitCode).toBe(0);
    expect(requirementsLog(job)).toContain("the cache /cache is on another filesystem than /opt/venv: uv copies from it (UV_LINK_MODE=copy)");
    expect(requirementsLog(job)).not.toMatch(/Failed to hardlink/);
    expect((await readdir(cache)).length).toBeGreaterThan(0);
  });

  it("L4.9 requirements resolve against the default libraries: root and another uid get the same versions", async () => {
    // The index has a pyyaml newer than the image's; pyyaml>=6 is met by the image's.
    const code = await wants("pyyaml>=6\ngreeting\n");
    const show = launch("python", "-c", "import importlib.metadata as m, greeting; print(m.version('pyyaml'), greeting.hello())");
    const [root, other] = await Promise.all([
      runPython(usingIndex(decoys, { code, command: show })),
      runPython(usingIndex(decoys, restricted({ code, command: show }))),
    ]);
    const pinned = (await readFile(path.resolve(import.meta.dirname, "../../images/python/base_requirements.txt"), "utf8")).match(/^pyyaml==(\S+)/m)![1];
    expect(root.stdout).toBe(`${pinned} hello from greeting 2.0.0\n`);
    expect(other.stdout).toBe(root.stdout);
    expect([root.exitCode, other.exitCode]).toEqual([0, 0]);
  });

  it.each([
    ["as root", false],
    ["as another uid", true],
  ])("L4.9 a default library that the requirements replace is named, with the defaults it breaks (%s)", async (_, asUser) => {
    const job = { code: await wants("numpy<2\n"), command: launch("python", "-c", "import numpy; print(numpy.__version__)") };
    const result = await runPython(usingIndex(decoys, asUser ? restricted(job) : job));
    expect(result.stdout).toBe("1.0.0\n");
    expect(launcherLines(result.stderr)).toContainEqual(
      expect.stringMatching(
        /^launcher: the requirements replace the default library numpy \S+ with 1\.0\.0; [a-z, -]*pandas[a-z, -]* depends? on it, and 1\.0\.0 breaks [a-z, -]*pandas[a-z, -]* \(.*pandas requires numpy>=2[^)]*\): importing (it|them) may fail$/,
      ),
    );
    expect(result.exitCode).toBe(0);
  });

  it.each(["uv", "pip"])("L4.11 a build that leaves a process running (%s): its process group is ended with the install, so the job finds none", async (installer) => {
    // Each time setup.py runs, it starts `sleep 4242` in the build's process group and notes its pid.
    const look = [
      "import os",
      'started = open("/tmp/lingering.pids").read().split()',
      'running = [pid for pid in os.listdir("/proc") if pid.isdigit() and open(f"/proc/{pid}/cmdline", "rb").read() == b"sleep\\x004242\\x00"]',
      'print("started:", len(started) > 0, "running:", running)',
    ].join("\n");
    const job = await runPython(usingIndex(index, { code: await wants("lingering==0.1.0\n"), env: { LAUNCHER_INSTALLER: installer }, command: launch("python", "-c", look) }));
    expect(job.stderr).not.toMatch(/Traceback/);
    expect(job.stdout).toBe("started: True running: []\n");
    expect(launcherLines(job.stderr)).toEqual([expect.stringMatching(summary)]);
    expect(job.exitCode).toBe(0);
  });

  it("L4.4 a failed install stops before the command, shows the installer's error, exits 69", async () => {
    const job = await runPython(
      usingIndex(index, { code: await wants("does-not-exist==1.0\n"), outputs: true, command: launch("echo", "ran") }),
    );
    expect(job.exitCode).toBe(69);
    expect(job.stdout).toBe("");
    expect(job.stderr).toMatch(/does-not-exist/);
    const lines = job.stderr.trimEnd().split("\n");
    expect(lines.at(-1)).toBe(
      `launcher: installing requirements.txt failed (uv exited 1): does-not-exist is not available from ${index.url}; full output in /outputs/requirements.log`,
    );
  });
});

describe("python: one index policy, whatever the installer", () => {
  // Index A has greeting 2.0.0; index B only 1.0.0 (it is as before 2.0.0 was out).
  const files = (b: string) => ({
    "--index-url in it": { "requirements.txt": `--index-url ${b}\ngreeting\n` },
    "-i in a file it includes": { "requirements.txt": "-r base.txt\n", "base.txt": `-i ${b}\ngreeting\n` },
  });
  const hello = launch("python", "-c", "import greeting; print(greeting.hello())");

  it.each([
    ["--index-url in it", "uv"],
    ["--index-url in it", "pip"],
    ["-i in a file it includes", "uv"],
    ["-i in a file it includes", "pip"],
  ] as const)("L4.10 a requirements.txt that names its own index B (%s) while PIP_INDEX_URL names A, with %s: greeting comes from B, and a line says so", async (where, installer) => {
    const [a, b] = [packageIndex(), packageIndex("before-greeting-2")];
    const job = await runPython(usingIndex(a, { code: await tgz(files(b.url)[where]), env: { LAUNCHER_INSTALLER: installer }, command: hello }));
    expect(job.stderr).not.toMatch(/Traceback/);
    expect(job.stdout).toBe("hello from greeting 1.0.0\n");
    expect(launcherLines(job.stderr)).toEqual([
      "launcher: requirements.txt names its own package index (--index-url), used instead of PIP_INDEX_URL",
      expect.stringMatching(summary),
    ]);
    expect(job.exitCode).toBe(0);
    expect(await a.requests()).toEqual([]);
    expect(await b.requests()).toContain("/files/greeting-1.0.0-py3-none-any.whl");
  });

  it.each([
    ["uv", "greeting 1.0.0, from the first index that has it (the extra one)", "1.0.0", []],
    [
      "pip",
      "greeting 2.0.0, the highest of both, and a line says that pip compares versions across indexes",
      "2.0.0",
      [
        "launcher: pip takes each package from whichever of several indexes has its highest version, so a package on one can stand in for another of the same name; uv (LAUNCHER_INSTALLER=uv) takes it from the first index that has it",
      ],
    ],
  ])("L4.10 PIP_INDEX_URL names A, PIP_EXTRA_INDEX_URL names B, with %s: %s", async (installer, _, version, lines) => {
    const [a, b] = [packageIndex(), packageIndex("before-greeting-2")];
    const env = { LAUNCHER_INSTALLER: installer, PIP_EXTRA_INDEX_URL: b.url };
    const job = await runPython(usingIndex(a, { code: await wants("greeting\n"), env, command: hello }));
    expect(job.stderr).not.toMatch(/Traceback/);
    expect(job.stdout).toBe(`hello from greeting ${version}\n`);
    expect(launcherLines(job.stderr)).toEqual([...lines, expect.stringMatching(summary)]);
    expect(job.exitCode).toBe(0);
  });
});

describe("python: the requirements log", () => {
  it("L5.1 no /outputs: no log, and /outputs is not created", async () => {
    const job = await runPython(
      usingIndex(index, { code: await wants("greeting==1.0.0\n"), command: launch("sh", "-c", "test -e /outputs && echo present || echo absent") }),
    );
    expect(job.stdout).toBe("absent\n");
    expect(job.exitCode).toBe(0);
  });

  it("L5.2 every step is logged and appended after what was there", async () => {
    const job = await runPython(
      usingIndex(index, {
        code: await wants("greeting==1.0.0\n"),
        outputs: { "requirements.log": "an earlier line\n" },
        command: launch("true"),
      }),
    );
    expect(job.exitCode).toBe(0);
    const text = requirementsLog(job);
    expect(text.startsWith("an earlier line\n")).toBe(true);
    expect(text).toMatch(/^== \S+Z detect: requirements.txt \(found requirements.txt\)$/m);
    expect(text).toMatch(/^== \S+Z run: \/opt\/venv\/bin\/uv pip install --python \/opt\/venv\/bin\/python -r requirements.txt$/m);
    expect(text).toMatch(/^stderr\| .*greeting==1.0.0/m);
    expect(text).toMatch(/^== \S+Z exit 0 after \d+\.\d\d s$/m);
  });

  it("L5.2 the log is complete when the install fails", async () => {
    const job = await runPython(usingIndex(index, { code: await wants("does-not-exist==1.0\n"), outputs: true, command: launch("true") }));
    expect(job.exitCode).toBe(69);
    const text = requirementsLog(job);
    expect(text).toMatch(/^stderr\| .*does-not-exist/m);
    expect(text).toMatch(/^== \S+Z exit 1 after /m);
    expect(text).toMatch(/^== \S+Z failed: installing requirements.txt failed \(uv exited 1\)/m);
  });

  it.each([true, false])("L5.3 one summary line per install step on stderr (with /outputs: %s)", async (outputs) => {
    const job = await runPython(usingIndex(index, { code: await wants("greeting==1.0.0\n"), outputs, command: launch("true") }));
    expect(launcherLines(job.stderr).filter((line) => line.startsWith("launcher: installed"))).toEqual([
      expect.stringMatching(summary),
    ]);
  });
});

/** The fixture wheels as input files under /inputs/wheels. */
async function wheelsAsInputs(): Promise<Record<string, Buffer>> {
  const files: Record<string, Buffer> = {};
  for (const name of ["greeting-1.0.0-py3-none-any.whl"]) {
    const response = await fetch(`${index.url.replace(/simple\/$/, "files/")}${name}`);
    files[`wheels/${name}`] = Buffer.from(await response.arrayBuffer());
  }
  return files;
}

describe("python: installing through a TLS-intercepting proxy", () => {
  const secure = packageIndex("fixtures", { tls: true });
  const ca = packageIndexCa();

  const overHttps = async (env: Record<string, string>, installer = "uv") =>
    runPython(
      usingIndex(secure, {
        code: await tgz({ "requirements.txt": "greeting==1.0.0\n" }),
        inputs: { "ca.pem": ca },
        env: { LAUNCHER_INSTALLER: installer, ...env },
        command: launch("python", "-c", "import greeting; print(greeting.hello())"),
      }),
    );

  it.each([
    ["PIP_CERT", "uv"],
    ["SSL_CERT_FILE", "uv"],
    ["PIP_CERT", "pip"],
  ])("L4.3 the CA bundle named by %s is trusted (%s)", async (setting, installer) => {
    const job = await overHttps({ [setting]: "/inputs/ca.pem" }, installer);
    expect(job.stdout).toBe("hello from greeting 1.0.0\n");
    expect(job.exitCode).toBe(0);
  });

  it.each(["uv", "pip"])("L4.5 an index whose certificate the job does not trust (%s): exit 69, one line that says so and how to trust it", async (installer) => {
    const job = await overHttps({ PIP_RETRIES: "0" }, installer);
    expect(job.exitCode).toBe(69);
    expect(launcherLines(job.stderr)).toEqual([
      expect.stringMatching(
        /^launcher: installing requirements\.txt failed \((uv|pip) exited \d+\): .+ presented a certificate that this job does not trust; give the CA bundle that signed it with PIP_CERT or SSL_CERT_FILE$/,
      ),
    ]);
  });

  it("L4.3 PIP_TRUSTED_HOST lets an index with an untrusted certificate through", async () => {
    const job = await overHttps({ PIP_TRUSTED_HOST: "127.0.0.1" });
    expect(job.stdout).toBe("hello from greeting 1.0.0\n");
    expect(job.exitCode).toBe(0);
  });

  it("L4.3 without the CA bundle, the untrusted index is refused", async () => {
    const job = await overHttps({});
    expect(job.exitCode).toBe(69);
    expect(job.stdout).toBe("");
  });
});
