// Global set-up of the orchestrator conformance files (vitest.orchestrator.config.ts):
// both images (built, or named by EXEC_*_IMAGE), pushed to a registry on loopback so
// that they carry a registry digest (a compute node refuses an image without one) and
// tagged with the names Bacalhau's custom job types use; Bacalhau's HTTP gateway
// image, built from its context on the project's base; then a legacy Bacalhau node
// and a current-release cluster (an orchestrator and two compute nodes). Everything
// started here is stopped at the end.
import path from "node:path";
import { execa } from "execa";
import type { TestProject } from "vitest/node";
import { type Cluster, LEGACY_NAMES, startCurrentCluster, startLegacyNode, stopNodes } from "./bacalhau.js";
import { imageFor } from "./build.js";

declare module "vitest" {
  export interface ProvidedContext {
    legacy: Omit<Cluster, "nodes">;
    current: Omit<Cluster, "nodes">;
  }
}

const root = path.resolve(import.meta.dirname, "../..");
const log = (message: string) => console.log(`orchestrator: ${message}`);

function setting(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; scripts/orchestrator-test sets it (see README, "Running on Bacalhau")`);
  return value;
}

async function publish(image: string, registry: string, name: string, legacyName: string): Promise<void> {
  const pushed = `${registry}/exec-images/${name}:orchestrator`;
  await execa("docker", ["tag", image, pushed]);
  await execa("docker", ["push", "--quiet", pushed]);
  await execa("docker", ["tag", image, legacyName]);
}

export default async function setup(project: TestProject) {
  if (process.env.CONFORMANCE_LIST_ONLY === "1") return; // scripts/check-contract lists the tests
  const started = performance.now();
  const registry = setting("ORCHESTRATOR_REGISTRY");
  const [python, duckdb] = await Promise.all([
    imageFor("python", process.env.EXEC_PYTHON_IMAGE, log),
    imageFor("duckdb", process.env.EXEC_DUCKDB_IMAGE, log),
  ]);
  await publish(python, registry, "exec-python-3.11", LEGACY_NAMES.python);
  await publish(duckdb, registry, "exec-duckdb", LEGACY_NAMES.duckdb);
  project.provide("pythonImage", python);
  project.provide("duckdbImage", duckdb);

  const { stdout: base } = await execa(path.join(root, "images/base/bootstrap"));
  await execa("docker", ["build", "--quiet", "--build-arg", `BASE_IMAGE=${base.trim()}`, "--tag", setting("BACALHAU_GATEWAY_IMAGE"), setting("BACALHAU_GATEWAY_CONTEXT")]);
  log(`images ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  const legacy = await startLegacyNode(setting("BACALHAU_LEGACY_BIN"));
  let current: Cluster;
  try {
    current = await startCurrentCluster(setting("BACALHAU_BIN"), 2);
  } catch (error) {
    await stopNodes(legacy.nodes);
    throw error;
  }
  log(`Bacalhau up in ${((performance.now() - started) / 1000).toFixed(1)} s: a legacy node, and an orchestrator with 2 compute nodes`);
  const { nodes: _legacyNodes, ...legacyEndpoint } = legacy;
  const { nodes: _currentNodes, ...currentEndpoint } = current;
  project.provide("legacy", legacyEndpoint);
  project.provide("current", currentEndpoint);
  return async () => {
    await stopNodes([...legacy.nodes, ...current.nodes]);
    // Containers a stopped node left behind (it removes its own as jobs end).
    const { stdout } = await execa("docker", ["ps", "--all", "--quiet", "--filter", "label=bacalhau-executor"]);
    const leftover = stdout.split("\n").filter(Boolean);
    if (leftover.length > 0) await execa("docker", ["rm", "--force", ...leftover], { reject: false });
  };
}
