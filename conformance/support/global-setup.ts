// Builds both job images once per run (or takes prebuilt ones from
// EXEC_PYTHON_IMAGE / EXEC_DUCKDB_IMAGE), starts the run's package indexes, and
// hands their names and addresses to the tests. At the end, stops the indexes and
// removes every container and volume the run left behind.
import { randomUUID } from "node:crypto";
import path from "node:path";
import { execa } from "execa";
import type { TestProject } from "vitest/node";
import { imageFor } from "./build.js";
import { RUN_LABEL, removeContainers, removeVolumes } from "./docker.js";
import { startIndexService } from "./package-index.js";

const root = path.resolve(import.meta.dirname, "../..");

const log = (message: string) => console.log(`conformance: ${message}`);

export default async function setup(project: TestProject) {
  // scripts/check-contract lists the tests (`vitest list`): no engine, images nor indexes are
  // needed, only names that test files may read as they are collected.
  if (process.env.CONFORMANCE_LIST_ONLY === "1") {
    const unused = "http://listing.invalid/";
    project.provide("pythonImage", "listing-only");
    project.provide("duckdbImage", "listing-only");
    project.provide("runLabel", "listing-only");
    project.provide("packageIndexes", { http: unused, https: unused, ca: "", silent: unused });
    return;
  }
  const runLabel = randomUUID();
  await execa(path.join(root, "scripts/engine-up"), { stdio: "inherit" });
  const [pythonImage, duckdbImage, indexes] = await Promise.all([
    imageFor("python", process.env.EXEC_PYTHON_IMAGE, log),
    imageFor("duckdb", process.env.EXEC_DUCKDB_IMAGE, log),
    startIndexService(),
  ]);
  project.provide("pythonImage", pythonImage);
  project.provide("duckdbImage", duckdbImage);
  project.provide("runLabel", runLabel);
  project.provide("packageIndexes", indexes.service);
  return async () => {
    await indexes.close();
    const removed = await removeContainers(RUN_LABEL, runLabel);
    if (removed > 0) console.log(`conformance: removed ${removed} leftover container(s)`);
    await removeVolumes(RUN_LABEL, runLabel);
  };
}
