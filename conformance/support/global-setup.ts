// Builds both job images once per run (or takes prebuilt ones from
// EXEC_PYTHON_IMAGE / EXEC_DUCKDB_IMAGE) and hands their names to the tests.
// At the end, removes every container the run left behind.
import { randomUUID } from "node:crypto";
import path from "node:path";
import { execa } from "execa";
import type { TestProject } from "vitest/node";
import { RUN_LABEL, removeContainers } from "./docker.js";

const root = path.resolve(import.meta.dirname, "../..");

async function imageFor(kind: "python" | "duckdb", prebuilt: string | undefined): Promise<string> {
  if (prebuilt) {
    await execa("docker", ["image", "inspect", prebuilt], { stdout: "ignore" }).catch(() => {
      throw new Error(`prebuilt image ${prebuilt} is not in the engine; build or pull it first`);
    });
    console.log(`conformance: using prebuilt ${prebuilt}`);
    return prebuilt;
  }
  const started = performance.now();
  const build = await execa(path.join(root, "scripts/build-image"), [kind], { all: true, reject: false });
  if (build.exitCode !== 0) {
    const tail = build.all.split("\n").slice(-30).join("\n");
    throw new Error(`building the ${kind} image failed (exit ${build.exitCode}):\n${tail}`);
  }
  const image = build.stdout.trim().split("\n").pop() ?? "";
  console.log(`conformance: built ${image} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return image;
}

export default async function setup(project: TestProject) {
  const runLabel = randomUUID();
  await execa(path.join(root, "scripts/engine-up"), { stdio: "inherit" });
  const [pythonImage, duckdbImage] = await Promise.all([
    imageFor("python", process.env.EXEC_PYTHON_IMAGE),
    imageFor("duckdb", process.env.EXEC_DUCKDB_IMAGE),
  ]);
  project.provide("pythonImage", pythonImage);
  project.provide("duckdbImage", duckdbImage);
  project.provide("runLabel", runLabel);
  return async () => {
    const removed = await removeContainers(RUN_LABEL, runLabel);
    if (removed > 0) console.log(`conformance: removed ${removed} leftover container(s)`);
  };
}
