// What both images promise as images (P1.5, P1.6): labels, entrypoint, and the tools in place.
import { describe, expect, it } from "vitest";
import { dockerode } from "./support/docker.js";
import { duckdbImage, duckdbVersion, pythonImage } from "./support/images.js";
import { PYTHON_VERSION } from "./support/versions.js";
import { runJob } from "./support/job.js";

// The source label is checked by R1.3: a URL, or absent when the build knows none.
const OCI_LABELS = ["title", "description", "version", "revision", "created", "licenses"];

describe("images", () => {
  it.each([
    [`exec-python-${PYTHON_VERSION}`, pythonImage],
    ["exec-duckdb", duckdbImage],
  ])("P1.5 %s carries the org.opencontainers.image labels and runs tini as PID 1", async (title, image) => {
    const info = await (await dockerode()).getImage(image()).inspect();
    const labels = info.Config.Labels ?? {};
    for (const name of OCI_LABELS) expect(labels[`org.opencontainers.image.${name}`], name).toMatch(/\S/);
    expect(labels["org.opencontainers.image.title"]).toBe(title);
    expect(info.Config.Entrypoint?.slice(0, 2)).toEqual(["/usr/bin/tini", "--"]);
    const job = await runJob({ image: image(), command: ["sh", "-c", "cat /proc/1/comm"] });
    expect(job.stdout).toBe("tini\n");
  });

  it(`P1.6 exec-python-${PYTHON_VERSION}: python is the /opt/venv one, ${PYTHON_VERSION}, with the default libraries and a compiler`, async () => {
    const script = "import sys, numpy, pandas, polars, pyarrow, requests, scipy, duckdb; print(sys.executable); print(*sys.version_info[:2], sep=chr(46))";
    const job = await runJob({ image: pythonImage(), command: ["sh", "-c", `python -c '${script}' && gcc --version >/dev/null && echo gcc`] });
    expect(job.stderr).toBe("");
    expect(job.stdout).toBe(`/opt/venv/bin/python\n${PYTHON_VERSION}\ngcc\n`);
  });

  it("P1.6 exec-duckdb: the pinned CLI is /usr/local/bin/duckdb and /duckdb", async () => {
    const version = await duckdbVersion();
    const job = await runJob({ image: duckdbImage(), command: ["sh", "-c", "command -v duckdb && /duckdb --version"] });
    expect(job.stdout).toMatch(new RegExp(`^/usr/local/bin/duckdb\\nv${version.replaceAll(".", "\\.")} `));
    expect(job.exitCode).toBe(0);
  });
});
