import { chmod, readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { dockerode } from "../support/docker.js";
import { tempDir, tree } from "../support/fixtures.js";
import { expectGolden } from "../support/golden.js";
import { duckdbImage, duckdbVersion } from "../support/images.js";
import { type Job, runJob } from "../support/job.js";

const here = import.meta.dirname;
const golden = (name: string, actual: Buffer | string) => expectGolden(here, name, actual);

/** The fixture files of conformance/duckdb/inputs, as /inputs. */
async function inputs(): Promise<Record<string, Buffer>> {
  const root = path.join(here, "inputs");
  const files: Record<string, Buffer> = {};
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const full = path.join(entry.parentPath, entry.name);
      files[path.relative(root, full)] = await readFile(full);
    }
  }
  return files;
}

const duckdb = async (command: string[], job: Omit<Job, "image" | "command"> = {}) =>
  runJob({ image: duckdbImage(), inputs: await inputs(), command, ...job });

const people = "SELECT name, city, note FROM read_csv('/inputs/people.csv') ORDER BY id";

// First in the file: the longest test of the file, which the others run beside.
describe("duckdb: at scale", () => {
  it("D9.1 aggregates a generated 5-million-row CSV under a 512 MiB memory limit, sized by that limit, not killed", async () => {
    const sql = [
      "SET threads = 2;",
      "SELECT current_setting('memory_limit') AS memory_limit;",
      "COPY (SELECT i AS id, i % 100000 AS k, (i * 7) % 1000 AS v, md5(i::VARCHAR) AS pad FROM range(5000000) t(i)) TO '/tmp/big.csv';",
      "SELECT count(*) AS groups, sum(total) AS total FROM (SELECT k, sum(v) AS total, count(DISTINCT pad) AS d FROM read_csv('/tmp/big.csv') GROUP BY k);",
    ].join("\n");
    const job = await duckdb(["-csv", "-c", sql], {
      timeoutMs: 600_000,
      configure: (c) => c.withResourcesQuota({ memory: 0.5 }).withTmpFs({ "/tmp": "rw,size=2g" }),
    });
    console.log(`D9.1: the 5M-row aggregate ran for ${job.seconds.toFixed(1)} s`);
    expect(job.stderr).toBe("");
    const [limitLine, ...result] = job.stdout.split("\n").slice(1);
    // DuckDB is sized from the container's limit (half of it), not the host's memory.
    expect(limitLine).toBe("256.0 MiB");
    expect(result.join("\n")).toBe(`groups,total\n100000,${expectedTotal()}\n`);
    expect(job.exitCode).toBe(0);
  }, 660_000);

  it.each([
    ["-c", (sql: string) => ["-c", `SET memory_limit = '100MB'; ${sql}`]],
    ["-cmd", (sql: string) => ["-cmd", "SET memory_limit = '100MB'", "-c", sql]],
    ["an -init file", (sql: string) => ["-init", "/inputs/limit.sql", "-c", sql]],
  ])("D9.1 under a memory limit, the job's own SET memory_limit in %s wins over the image's half", async (_, args) => {
    const query = "SELECT current_setting('memory_limit') AS m";
    const job = await runJob({
      image: duckdbImage(),
      inputs: { "limit.sql": "SET memory_limit = '100MB';\n" },
      command: ["-noheader", "-csv", ...args(query)],
      configure: (c) => c.withResourcesQuota({ memory: 0.5 }),
    });
    expect(job.stdout).toBe("95.3 MiB\n");
    expect(job.exitCode).toBe(0);
  });

  it("D9.1 at a 256 MiB limit, GROUP BY and count(DISTINCT) over 5 million distinct strings complete or fail with DuckDB's own error: never killed", async () => {
    const data = await tempDir();
    await chmod(data, 0o777);
    const made = await duckdb(["-c", "COPY (SELECT i, md5(i::VARCHAR) AS s FROM range(5000000) t(i)) TO '/data/big.csv'"], {
      configure: (c) => c.withBindMounts([{ source: data, target: "/data" }]),
    });
    expect(made.exitCode).toBe(0);
    const limited = (sql: string) =>
      duckdb(["-csv", "-c", sql], {
        timeoutMs: 300_000,
        configure: (c) => c.withResourcesQuota({ memory: 0.25 }).withBindMounts([{ source: data, target: "/data", mode: "ro" }]),
      });
    const jobs = await Promise.all([
      limited("SELECT count(*) AS n FROM (SELECT s, count(*) FROM read_csv('/data/big.csv') GROUP BY s)"),
      limited("SELECT count(DISTINCT s) AS n FROM read_csv('/data/big.csv')"),
    ]);
    for (const job of jobs) {
      // Killed by the kernel, the container would end with 137 and no word of why.
      if (job.exitCode === 0) expect(job.stdout).toBe("n\n5000000\n");
      else {
        expect(job.exitCode).toBe(1);
        expect(job.stderr).toMatch(/^Out of Memory Error: .*\(\d+\.\d MiB\/128\.0 MiB used\)$/m);
      }
    }
  }, 660_000);
});

describe("duckdb: invocation", () => {
  it.each([
    ["flags alone", ["-csv", "-c", "SELECT 42 AS answer"]],
    ["duckdb then flags", ["duckdb", "-csv", "-c", "SELECT 42 AS answer"]],
  ])("D1.1 %s run the CLI", async (_, command) => {
    const job = await duckdb(command);
    expect(job.stderr).toBe("");
    expect(job.stdout).toBe("answer\n42\n");
    expect(job.exitCode).toBe(0);
  });

  it("D1.1 any other executable runs as given", async () => {
    const job = await duckdb(["sh", "-c", "echo from sh; exit 7"]);
    expect(job.stdout).toBe("from sh\n");
    expect(job.exitCode).toBe(7);
  });

  it("D1.2 duckdb --version reports the pinned version, and so does the image's version label", async () => {
    const version = await duckdbVersion();
    const job = await duckdb(["duckdb", "--version"]);
    expect(job.stdout).toMatch(new RegExp(`^v${version.replaceAll(".", "\\.")} `));
    const labels = (await (await dockerode()).getImage(duckdbImage()).inspect()).Config.Labels ?? {};
    expect(labels["org.opencontainers.image.version"]).toMatch(new RegExp(`-duckdb${version.replaceAll(".", "\\.")}$`));
  });
});

describe("duckdb: inputs", () => {
  it.each([
    ["csv-utf8-quoted", people],
    ["csv-glob", "SELECT product, count(*) AS n, sum(amount) AS total FROM read_csv('/inputs/sales/*.csv') GROUP BY ALL ORDER BY product"],
    ["csv-types", "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_csv('/inputs/sales/*.csv'))"],
    ["parquet", "SELECT region, sum(value) AS total FROM '/inputs/measurements.parquet' GROUP BY ALL ORDER BY region"],
    ["json", "SELECT event, count(*) AS n FROM read_json('/inputs/events.json') GROUP BY ALL ORDER BY event"],
  ])("D2.1 %s", async (name, sql) => {
    const job = await duckdb(["-csv", "-c", sql]);
    expect(job.stderr).toBe("");
    expect(job.exitCode).toBe(0);
    await golden(`${name}.csv`, job.stdout);
  });

  it("D2.2 an empty CSV file behaves as the CLI does", async () => {
    const job = await duckdb(["-csv", "-c", "SELECT count(*) AS n FROM read_csv('/inputs/empty.csv')"]);
    await golden("empty-csv.out", `exit ${job.exitCode}\n--- stdout\n${job.stdout}--- stderr\n${job.stderr}`);
  });
});

describe("duckdb: output modes", () => {
  it.each([
    ["default", []],
    ["csv", ["-csv"]],
    ["json", ["-json"]],
    ["line", ["-line"]],
    ["markdown", ["-markdown"]],
    ["noheader", ["-csv", "-noheader"]],
  ])("D3.1 %s mode prints what the CLI prints, and only that", async (name, flags) => {
    const job = await duckdb([...flags, "-c", people]);
    expect(job.stderr).toBe("");
    expect(job.exitCode).toBe(0);
    await golden(`mode-${name}.out`, job.stdout);
  });
});

describe("duckdb: SQL from files", () => {
  const script = "SELECT product, sum(amount) AS total FROM read_csv('/inputs/sales/*.csv') GROUP BY ALL ORDER BY product;\n";
  it.each([
    ["-init", ["-csv", "-init", "/code/query.sql", "-c", "SELECT 'after init' AS step"]],
    ["-f", ["-csv", "-f", "/code/query.sql"]],
    [".read", ["-csv", "-c", ".read /code/query.sql"]],
  ])("D4.1 %s runs a file of SQL from /code", async (name, command) => {
    const job = await duckdb(command, { code: { path: await tree({ "query.sql": script }) } });
    expect(job.exitCode).toBe(0);
    await golden(`file-${name.replace(/\W/g, "")}.csv`, job.stdout);
  });

  it("D4.1 SQL on standard input runs", async () => {
    const job = await duckdb(["-csv"], { stdin: "SELECT 6 * 7 AS answer;\n" });
    expect(job.stderr).toBe("");
    expect(job.stdout).toBe("answer\n42\n");
    expect(job.exitCode).toBe(0);
  });
});

describe("duckdb: results in /outputs", () => {
  it("D5.1 COPY ... TO /outputs writes CSV and Parquet with the query's content", async () => {
    const sql = [
      "COPY (SELECT product, sum(amount) AS total FROM read_csv('/inputs/sales/*.csv') GROUP BY ALL ORDER BY product) TO '/outputs/totals.csv' (HEADER);",
      "COPY (SELECT * FROM read_csv('/inputs/people.csv') ORDER BY id) TO '/outputs/people.parquet' (FORMAT parquet);",
      "SELECT count(*) AS n, max(city) AS city FROM '/outputs/people.parquet';",
    ].join("\n");
    const job = await duckdb(["-csv", "-c", sql], { outputs: true });
    expect(job.exitCode).toBe(0);
    expect(job.stdout).toBe('n,city\n3,"北京"\n');
    await golden("copy-totals.csv", job.outputs["totals.csv"]!);
    expect(job.outputs["people.parquet"]!.subarray(0, 4).toString()).toBe("PAR1");
  });
});

describe("duckdb: errors", () => {
  it.each([
    ["bad SQL", "SELEC 1", /Parser Error/],
    ["a missing input file", "SELECT * FROM read_csv('/inputs/nope.csv')", /IO Error: No files found that match the pattern "\/inputs\/nope.csv"/],
    ["a missing column", "SELECT nope FROM read_csv('/inputs/people.csv')", /Binder Error: Referenced column "nope" not found/],
  ])("D6.1 %s: non-zero exit, DuckDB's message on stderr, nothing on stdout", async (_, sql, message) => {
    const job = await duckdb(["-csv", "-c", sql]);
    expect(job.exitCode).not.toBe(0);
    expect(job.stderr).toMatch(message);
    expect(job.stdout).toBe("");
  });

  it("D6.1 with -bail, a script stops at a failing statement: the results before it, none after, a non-zero exit", async () => {
    // On standard input, without -bail, the CLI would go on to the next statement.
    const script = "SELECT 1 AS ok;\nSELECT nope FROM read_csv('/inputs/people.csv');\nSELECT 2 AS after;\n";
    const job = await duckdb(["-csv", "-bail"], { stdin: script });
    expect(job.stdout).toBe("ok\n1\n");
    expect(job.stderr).toMatch(/^Binder Error: Referenced column "nope" not found/);
    expect(job.exitCode).not.toBe(0);
  });

  // Fails on row 1,000,001, once the CLI as published has printed a million rows of a
  // row-wise mode (duckdb#16574).
  const failsMidResult = "SELECT CAST(CASE WHEN range < 1000000 THEN '1' ELSE 'x' END AS INTEGER) FROM range(2000000)";
  const conversionError = /^Conversion Error: Could not convert string 'x' to INT32\n/;

  it.each([
    ["-csv", ["-csv"]],
    ["-json", ["-json"]],
    ["-jsonlines", ["-jsonlines"]],
    ["-line", ["-line"]],
    ["-list", ["-list"]],
    ["-html", ["-html"]],
    ["-quote", ["-quote"]],
    ["-ascii", ["-ascii"]],
    [".mode insert", ["-cmd", ".mode insert"]],
    [".mode tcl", ["-cmd", ".mode tcl"]],
    ["the default mode", []],
  ])("D6.2 %s: a query that fails a million rows in exits non-zero, with DuckDB's message and no rows", async (_, flags) => {
    const job = await duckdb([...flags, "-c", failsMidResult]);
    expect(job.exitCode).not.toBe(0);
    expect(job.stderr).toMatch(conversionError);
    expect(job.stdout).toBe("");
  });

  it.each([
    ["-f FILE", ["-csv", "-f", "/code/fail.sql"], undefined],
    [".read FILE", ["-csv", "-c", ".read /code/fail.sql"], undefined],
    ["standard input", ["-csv"], `${failsMidResult};\n`],
  ])("D6.2 -csv, SQL from %s: a query that fails a million rows in exits non-zero, with DuckDB's message and no rows", async (_, command, stdin) => {
    const job = await duckdb(command, { code: { path: await tree({ "fail.sql": `${failsMidResult};\n` }) }, stdin });
    expect(job.exitCode).not.toBe(0);
    expect(job.stderr).toMatch(conversionError);
    expect(job.stdout).toBe("");
  });

  it("D6.2 -csv -f, three statements, the second failing a million rows in: the first's rows, DuckDB's message, a non-zero exit, and the third never runs", async () => {
    const script = `SELECT 42 AS first;\n${failsMidResult};\nSELECT 'after' AS third;\n`;
    const job = await duckdb(["-csv", "-f", "/code/script.sql"], { code: { path: await tree({ "script.sql": script }) } });
    expect(job.exitCode).not.toBe(0);
    expect(job.stderr).toMatch(conversionError);
    expect(job.stdout).toBe("first\n42\n");
  });
});

describe("duckdb: offline, unprivileged", () => {
  const extensions = ["parquet", "json", "icu", "httpfs", "excel", "fts", "sqlite_scanner", "avro", "tpch", "inet"];
  it("D7.1 compiled-in and installed extensions LOAD with networking off", async () => {
    const sql = `${extensions.map((e) => `LOAD ${e};`).join(" ")} SELECT count(*) AS loaded FROM duckdb_extensions() WHERE loaded AND extension_name IN (${extensions.map((e) => `'${e}'`).join(", ")})`;
    const job = await duckdb(["-csv", "-c", sql], { configure: (c) => c.withNetworkMode("none") });
    expect(job.stderr).toBe("");
    expect(job.stdout).toBe(`loaded\n${extensions.length}\n`);
  });

  it("D8.1 runs as an arbitrary uid with a read-only root filesystem and a writable /tmp", async () => {
    const job = await duckdb(["-csv", "-c", "LOAD httpfs; SELECT count(*) AS n FROM read_csv('/inputs/sales/*.csv')"], {
      user: "12345:12345",
      readOnlyRoot: true,
      configure: (c) => c.withTmpFs({ "/tmp": "rw" }),
    });
    expect(job.stderr).toBe("");
    expect(job.stdout).toBe("n\n5\n");
  });

});

/** sum over i < 5e6 of (7i mod 1000). */
function expectedTotal(): number {
  let total = 0;
  for (let i = 0; i < 5_000_000; i++) total += (i * 7) % 1000;
  return total;
}
