// What every published platform of both images must do: run on its architecture,
// install and build a job's requirements, import the default libraries, answer
// DuckDB queries offline, and carry labels a user can follow. The platform under
// test is EXEC_PLATFORM (linux/amd64, linux/arm64), else the engine's own; make
// release-test runs this file against each platform it pulled back, an emulated
// one included.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerode } from "../support/docker.js";
import { tgz } from "../support/fixtures.js";
import { duckdbImage, pythonImage } from "../support/images.js";
import { runJob } from "../support/job.js";
import { type PackageIndex, startPackageIndex } from "../support/package-index.js";
import { launch, runPython, usingIndex } from "../support/python.js";
import { PYTHON_VERSION } from "../support/versions.js";

const UNAME = { amd64: "x86_64", arm64: "aarch64" } as const;
type Arch = keyof typeof UNAME;
// Jobs under emulation run several times slower; the hang detector allows for it.
const TIMEOUT_MS = 600_000;

async function expectedArch(): Promise<Arch> {
  const arch = process.env.EXEC_PLATFORM ? process.env.EXEC_PLATFORM.replace(/^linux\//, "") : (await (await dockerode()).version()).Arch;
  if (arch !== "amd64" && arch !== "arm64") throw new Error(`EXEC_PLATFORM names ${arch}; the images are published for linux/amd64 and linux/arm64`);
  return arch;
}

let index: PackageIndex;
beforeAll(async () => {
  index = await startPackageIndex();
});
afterAll(() => index?.close());

describe("release: every platform", () => {
  it.each([
    [`exec-python-${PYTHON_VERSION}`, pythonImage],
    ["exec-duckdb", duckdbImage],
  ])("R1.1 %s is built for the platform under test and runs on it", async (_, image) => {
    const arch = await expectedArch();
    const info = await (await dockerode()).getImage(image()).inspect();
    expect(`${info.Os}/${info.Architecture}`).toBe(`linux/${arch}`);
    const job = await runJob({ image: image(), command: ["uname", "-m"], timeoutMs: TIMEOUT_MS });
    expect(job.stdout).toBe(`${UNAME[arch]}\n`);
    expect(job.exitCode).toBe(0);
  });

  it("R1.2 python: the launcher installs requirements from an index, gcc builds a C extension, and the job runs", async () => {
    const code = await tgz({ "requirements.txt": "greeting==1.0.0\ncext==0.1.0\n" });
    const command = launch("python", "-c", "import greeting, cext, platform; print(greeting.hello(), cext.add(2, 3), platform.machine())");
    const job = await runPython(usingIndex(index, { code, command, outputs: true, timeoutMs: TIMEOUT_MS }));
    expect(job.stderr).not.toMatch(/Traceback/);
    expect(job.stdout).toBe(`hello from greeting 1.0.0 5 ${UNAME[await expectedArch()]}\n`);
    expect(job.exitCode).toBe(0);
    expect(job.outputs["requirements.log"]?.toString()).toMatch(/cext/);
  });

  it("R1.2 python: the default libraries import and compute", async () => {
    const script = [
      "import numpy, pandas, polars, pyarrow, requests, scipy.special, duckdb",
      "frame = pandas.DataFrame({'x': numpy.arange(4)})",
      "print(int(frame.x.sum()), polars.DataFrame({'x': [1, 2]})['x'].sum(), pyarrow.array([1, 2]).type,",
      "      round(float(scipy.special.gamma(5)), 1), duckdb.sql('select 41 + 1').fetchall()[0][0])",
    ].join("\n");
    const job = await runPython({ command: launch("python", "-c", script), timeoutMs: TIMEOUT_MS });
    expect(job.stderr).not.toMatch(/Traceback/);
    expect(job.stdout).toBe("6 3 int64 24.0 42\n");
    expect(job.exitCode).toBe(0);
  });

  it("R1.2 duckdb: the CLI answers and loads its extensions without a network", async () => {
    const sql = "LOAD httpfs; LOAD excel; LOAD fts; LOAD sqlite_scanner; LOAD avro; LOAD tpch; LOAD inet; SELECT 42 AS answer";
    const job = await runJob({
      image: duckdbImage(),
      command: ["-csv", "-c", sql],
      configure: (container) => container.withNetworkMode("none"),
      timeoutMs: TIMEOUT_MS,
    });
    expect(job.stderr).toBe("");
    expect(job.stdout).toBe("answer\n42\n");
    expect(job.exitCode).toBe(0);
  });

  it.each([
    [`exec-python-${PYTHON_VERSION}`, pythonImage],
    ["exec-duckdb", duckdbImage],
  ])("R1.3 %s: version, revision and creation labels are set, and the source label is a URL or absent", async (_, image) => {
    const labels = (await (await dockerode()).getImage(image()).inspect()).Config.Labels ?? {};
    for (const name of ["version", "revision", "created"]) expect(labels[`org.opencontainers.image.${name}`], name).toMatch(/\S/);
    const source = labels["org.opencontainers.image.source"];
    if (source !== undefined) expect(source).toMatch(/^https:\/\/[^\s/]+\/\S+$/);
  });
});
