// One DuckDB across both images: what a python job writes with its duckdb library,
// a duckdb job reads, and the other way round, as jobs chained through /outputs.
import { describe, expect, it } from "vitest";
import { duckdbImage, duckdbVersion } from "./support/images.js";
import { type JobResult, runJob } from "./support/job.js";
import { pythonCode, runPython } from "./support/python.js";

const ROWS = "SELECT i AS id, 'café ' || i AS name, i * 1.5 AS amount FROM range(1, 4) t(i)";
// The CLI's CSV mode quotes text that is not ASCII.
const EXPECTED_CSV = 'id,name,amount\n1,"café 1",1.5\n2,"café 2",3.0\n3,"café 3",4.5\n';

/** The files a job left in /outputs, as the next job's /inputs (the launcher's log stays behind). */
function handOver(job: JobResult, names: string[]): Record<string, Buffer> {
  expect(job.exitCode, job.stderr).toBe(0);
  const { "requirements.log": _log, ...files } = job.outputs;
  expect(Object.keys(files).sort()).toEqual([...names].sort());
  return files;
}

describe("one DuckDB", () => {
  it("P1.4 the python image's duckdb library is the DuckDB image's version", async () => {
    const version = await duckdbVersion();
    const library = await runPython({ command: pythonCode("import duckdb; print(duckdb.__version__)") });
    const cli = await runJob({ image: duckdbImage(), command: ["--version"] });
    expect(library.stdout).toBe(`${version}\n`);
    expect(cli.stdout).toMatch(new RegExp(`^v${version.replaceAll(".", "\\.")} `));
  });

  it("P1.4 a database and a Parquet file written by a python job are read by a duckdb job", async () => {
    const write = [
      "import duckdb",
      "con = duckdb.connect('/outputs/python.duckdb')",
      `con.execute("CREATE TABLE sales AS ${ROWS}")`,
      "con.execute(\"COPY sales TO '/outputs/python.parquet' (FORMAT parquet)\")",
      "con.close()",
    ].join("\n");
    const written = await runPython({ command: pythonCode(write), outputs: true });
    const files = handOver(written, ["python.duckdb", "python.parquet"]);
    const read = await runJob({
      image: duckdbImage(),
      inputs: files,
      command: [
        "-csv",
        "-c",
        "ATTACH '/inputs/python.duckdb' AS p (READ_ONLY); SELECT * FROM p.sales ORDER BY id; SELECT * FROM '/inputs/python.parquet' ORDER BY id",
      ],
    });
    expect(read.stderr).toBe("");
    expect(read.stdout).toBe(EXPECTED_CSV + EXPECTED_CSV);
    expect(read.exitCode).toBe(0);
  });

  it("P1.4 a database and a Parquet file written by a duckdb job are read by a python job", async () => {
    const written = await runJob({
      image: duckdbImage(),
      outputs: true,
      command: ["duckdb", "/outputs/cli.duckdb", "-c", `CREATE TABLE sales AS ${ROWS}; COPY sales TO '/outputs/cli.parquet' (FORMAT parquet)`],
    });
    const files = handOver(written, ["cli.duckdb", "cli.parquet"]);
    const read = [
      "import duckdb, pyarrow.parquet as pq",
      "con = duckdb.connect('/inputs/cli.duckdb', read_only=True)",
      "print(con.sql('SELECT * FROM sales ORDER BY id').fetchall())",
      "print(pq.read_table('/inputs/cli.parquet').sort_by('id').to_pylist()[0])",
      "print(duckdb.sql(\"SELECT sum(amount) FROM '/inputs/cli.parquet'\").fetchone())",
    ].join("\n");
    const job = await runPython({ inputs: files, command: pythonCode(read) });
    expect(job.exitCode, job.stderr).toBe(0);
    expect(job.stdout).toBe(
      [
        "[(1, 'café 1', Decimal('1.5')), (2, 'café 2', Decimal('3.0')), (3, 'café 3', Decimal('4.5'))]",
        "{'id': 1, 'name': 'café 1', 'amount': Decimal('1.5')}",
        "(Decimal('9.0'),)",
        "",
      ].join("\n"),
    );
  });
});
