import { describe, expect, it } from "vitest";
import { duckdbImage } from "../support/images.js";
import { runJob } from "../support/job.js";

describe("duckdb: SELECT 42", () => {
  it.each([
    ["flags alone", ["-csv", "-c", "SELECT 42 AS answer"]],
    ["duckdb then flags (as the orchestrator sends it)", ["duckdb", "-csv", "-c", "SELECT 42 AS answer"]],
  ])("%s answer as CSV", async (_, command) => {
    const job = await runJob({ image: duckdbImage(), command });
    expect(job.stderr).toBe("");
    expect(job.stdout).toBe("answer\n42\n");
    expect(job.exitCode).toBe(0);
  });
});
