// Jobs over several compute nodes: 20 short python jobs submitted at once to the
// current-release cluster (an orchestrator and two compute nodes) all complete, and
// both nodes run some. The spread and the total time are reported.
import { describe, expect, inject, it } from "vitest";
import { dataUrl, type Endpoint, outcome, runTemplate } from "../support/bacalhau.js";
import { tgz } from "../support/fixtures.js";

const current = (): Endpoint => inject("current");
const JOBS = 20;

describe("orchestrator: several compute nodes", () => {
  it(`B3.1 ${JOBS} jobs submitted at once all complete, and both compute nodes run some`, async () => {
    const code = dataUrl(await tgz({ "main.py": "import sys\nprint('job', sys.argv[1])\n" }));
    const started = performance.now();
    const ids = await Promise.all(
      Array.from({ length: JOBS }, (_, i) => runTemplate(current(), "python", { JOB_CODE: code, JOB_COMMAND: JSON.stringify(["python", "main.py", String(i)]) })),
    );
    const seconds = (performance.now() - started) / 1000;
    const done = await Promise.all(ids.map((id) => outcome(current(), id, false)));
    expect(done.map((job) => job.stdout)).toEqual(Array.from({ length: JOBS }, (_, i) => `job ${i}\n`));
    expect(done.map((job) => job.exitCode)).toEqual(Array(JOBS).fill(0));
    const spread: Record<string, number> = {};
    for (const job of done) spread[job.nodeId] = (spread[job.nodeId] ?? 0) + 1;
    console.log(`orchestrator: ${JOBS} jobs in ${seconds.toFixed(1)} s, by node: ${JSON.stringify(spread)}`);
    expect(Object.keys(spread).sort()).toEqual(["compute-1", "compute-2"]);
  });
});
