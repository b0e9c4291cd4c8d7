// Bacalhau, the orchestrator the images are made for: nodes started on loopback for
// the orchestrator conformance files, and a client that submits jobs and reads back
// what they did. Two releases: the legacy one with the custom job types (`bacalhau
// exec python|duckdb`, v1.2.1-v1.5.0) and the current one, which runs the images from
// job specs (jobs/*.yaml).
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { openSync } from "node:fs";
import { mkdir, readdir, readFile } from "node:fs/promises";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { tempDir } from "./fixtures.js";

export type Release = "legacy" | "current";

/** How a client reaches one node or cluster. */
export interface Endpoint {
  release: Release;
  bin: string;
  dataDir: string;
  apiPort: number;
}

/** A port that was free a moment ago, on loopback. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  server.close();
  await once(server, "close");
  return port;
}

/** The environment every client and node runs with: never the public network, no update checks. */
function clientEnv(endpoint: Pick<Endpoint, "dataDir" | "apiPort">): Record<string, string> {
  return {
    BACALHAU_DIR: endpoint.dataDir,
    BACALHAU_DATA_DIR: endpoint.dataDir,
    BACALHAU_ENVIRONMENT: "local",
    BACALHAU_UPDATE_SKIPCHECKS: "true",
    BACALHAU_API_HOST: "127.0.0.1",
    BACALHAU_API_PORT: String(endpoint.apiPort),
  };
}

/** Runs the CLI against an endpoint; rejects with its output when it fails. */
export async function bacalhau(
  endpoint: Endpoint,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<string> {
  const dataDir = endpoint.release === "current" ? ["--data-dir", endpoint.dataDir] : [];
  const result = await execa(endpoint.bin, [...args, ...dataDir], {
    cwd: options.cwd,
    env: { ...clientEnv(endpoint), ...options.env },
    reject: false,
    timeout: 300_000,
  });
  if (result.exitCode !== 0) {
    throw new Error(`bacalhau ${args.join(" ")} exited ${result.exitCode}:\n${result.stdout}\n${result.stderr}`);
  }
  return result.stdout;
}

/** A started node: its process, and the log it writes. */
export interface Node {
  name: string;
  process: ChildProcess;
  log: string;
}

async function startNode(bin: string, name: string, args: string[], env: Record<string, string>, dir: string): Promise<Node> {
  const log = path.join(dir, `${name}.log`);
  const out = openSync(log, "w");
  const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ["ignore", out, out] });
  child.on("error", () => undefined);
  return { name, process: child, log };
}

/** Stops nodes, waiting until each has exited. */
export async function stopNodes(nodes: Node[]): Promise<void> {
  await Promise.all(
    nodes.map(async (node) => {
      if (node.process.exitCode !== null || node.process.signalCode !== null) return;
      const exited = once(node.process, "exit");
      node.process.kill("SIGTERM");
      const timer = setTimeout(() => node.process.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }),
  );
}

/** Waits until the cluster lists `computes` connected compute nodes (the hang detector: 60 s). */
async function waitForComputes(endpoint: Endpoint, computes: number, nodes: Node[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  let last = "";
  for (;;) {
    for (const node of nodes) {
      if (node.process.exitCode !== null) {
        const tail = (await readFile(node.log, "utf8")).split("\n").slice(-15).join("\n");
        throw new Error(`bacalhau node ${node.name} exited (${node.process.exitCode}):\n${tail}`);
      }
    }
    try {
      const listed = JSON.parse(await bacalhau(endpoint, ["node", "list", "--output", "json"])) as NodeInfo[];
      const connected = listed.filter((n) => isCompute(n) && connectionOf(n) === "CONNECTED");
      if (connected.length >= computes) return;
      last = `${connected.length} of ${computes} compute nodes connected`;
    } catch (error) {
      last = String(error);
    }
    if (Date.now() > deadline) throw new Error(`the Bacalhau cluster did not come up within 60 s: ${last}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

interface NodeInfo {
  Info?: { NodeID?: string; NodeType?: string; ID?: string };
  NodeType?: string;
  Connection?: string;
  ConnectionState?: { Status?: string };
}

const isCompute = (node: NodeInfo) => (node.Info?.NodeType ?? node.NodeType) === "Compute";
const connectionOf = (node: NodeInfo) => node.Connection ?? node.ConnectionState?.Status;

/** A cluster started for the tests, and how to reach it. */
export interface Cluster extends Endpoint {
  nodes: Node[];
}

/** One legacy node (requester and compute), with job translation on: the custom job types. */
export async function startLegacyNode(bin: string): Promise<Cluster> {
  const dir = await tempDir();
  const published = path.join(dir, "published");
  await mkdir(published);
  const [apiPort, networkPort, publisherPort] = [await freePort(), await freePort(), await freePort()];
  // Clients keep a repository of their own: one shared with the node races it at start.
  const endpoint: Endpoint = { release: "legacy", bin, dataDir: path.join(dir, "client"), apiPort };
  const args = [
    "serve",
    "--node-type", "requester,compute",
    "--host", "127.0.0.1",
    "--port", String(apiPort),
    "--network-port", String(networkPort),
    "--requester-job-translation-enabled",
    "--job-selection-accept-networked",
    "--default-publisher", "local",
    "--local-publisher-address", "127.0.0.1",
    "--local-publisher-port", String(publisherPort),
    "--local-publisher-directory", published,
    "--web-ui=false",
  ];
  const node = await startNode(bin, "legacy", args, clientEnv({ dataDir: path.join(dir, "node"), apiPort }), dir);
  const cluster = { ...endpoint, nodes: [node] };
  await waitForComputes(endpoint, 1, [node]).catch(async (error) => {
    await stopNodes([node]);
    throw error;
  });
  return cluster;
}

/** A current-release orchestrator with `computes` compute nodes, each a process of its own. */
export async function startCurrentCluster(bin: string, computes: number): Promise<Cluster> {
  const root = await tempDir();
  const [apiPort, orchestratorPort] = [await freePort(), await freePort()];
  const orchestratorDir = path.join(root, "orchestrator");
  const endpoint: Endpoint = { release: "current", bin, dataDir: path.join(root, "client"), apiPort };
  const common = (dataDir: string, api: number) => [
    "--data-dir", dataDir,
    "-c", "API.Host=127.0.0.1",
    "-c", `API.Port=${api}`,
    "-c", "WebUI.Enabled=false",
    "-c", "UpdateConfig.Interval=0s",
    "-c", "DisableAnalytics=true",
  ];
  const nodes: Node[] = [];
  try {
    const orchestrator = [
      "serve", "--orchestrator", ...common(orchestratorDir, apiPort),
      "-c", "Orchestrator.Host=127.0.0.1",
      "-c", `Orchestrator.Port=${orchestratorPort}`,
      // The templates leave the publisher to the cluster's defaults.
      "-c", "JobDefaults.Batch.Task.Publisher.Type=local",
    ];
    nodes.push(
      await startNode(
        bin,
        "orchestrator",
        orchestrator,
        clientEnv({ dataDir: orchestratorDir, apiPort }),
        root,
      ),
    );
    for (let i = 1; i <= computes; i++) {
      const name = `compute-${i}`;
      const dataDir = path.join(root, name);
      const args = [
        "serve", "--compute", "--name", name,
        ...common(dataDir, await freePort()),
        "-c", `Compute.Orchestrators=nats://127.0.0.1:${orchestratorPort}`,
        "-c", "Publishers.Types.Local.Address=127.0.0.1",
        "-c", `Publishers.Types.Local.Port=${await freePort()}`,
        "-c", "JobDefaults.Batch.Task.Publisher.Type=local",
        // Inputs a job spec mounts from the node (localDirectory): the tests' folders.
        "-c", `Compute.AllowListedLocalPaths=${os.tmpdir()}/**`,
      ];
      nodes.push(await startNode(bin, name, args, clientEnv({ dataDir, apiPort }), root));
    }
    await waitForComputes(endpoint, computes, nodes);
    return { ...endpoint, nodes };
  } catch (error) {
    await stopNodes(nodes);
    throw error;
  }
}

/** What a job did: its exit code, output, the node that ran it, and what it published. */
export interface JobOutcome {
  id: string;
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  nodeId: string;
  outputs: Record<string, string>;
}

interface Execution {
  NodeID: string;
  RunOutput?: { Stdout?: string; stdout?: string; Stderr?: string; stderr?: string; ExitCode?: number };
  ComputeState?: { StateType?: number | string };
}

/** Reads back a finished job: its one execution, and its published /outputs. */
export async function outcome(endpoint: Endpoint, id: string, withOutputs = true): Promise<JobOutcome> {
  const executions = JSON.parse(await bacalhau(endpoint, ["job", "executions", id, "--output", "json"])) as Execution[];
  const ran = executions.find((e) => e.RunOutput) ?? executions[0];
  if (!ran) {
    const described = JSON.parse(await bacalhau(endpoint, ["job", "describe", id, "--output", "json"])) as { Job?: { State?: unknown } };
    throw new Error(`job ${id} has no execution; its state: ${JSON.stringify(described.Job?.State)}`);
  }
  const outputs: Record<string, string> = {};
  if (withOutputs) {
    const dir = await tempDir();
    await bacalhau(endpoint, ["job", "get", id, "--output-dir", dir]);
    const outputsDir = path.join(dir, "outputs");
    for (const name of await readdir(outputsDir).catch(() => [] as string[])) {
      outputs[name] = await readFile(path.join(outputsDir, name), "utf8");
    }
  }
  return {
    id,
    exitCode: ran.RunOutput?.ExitCode,
    stdout: ran.RunOutput?.Stdout ?? ran.RunOutput?.stdout ?? "",
    stderr: ran.RunOutput?.stderr ?? ran.RunOutput?.Stderr ?? "",
    nodeId: ran.NodeID,
    outputs,
  };
}

/** The job ID a `--id-only` submission printed (its last line). */
export const jobId = (stdout: string): string => stdout.trim().split("\n").pop()!.trim();

/** The names of a job's running containers (the job ID is in them): the job's own ends in
 * -executor, the HTTP gateway beside it in -gateway. */
export async function jobContainers(id: string): Promise<string[]> {
  const { stdout } = await execa("docker", ["ps", "--format", "{{.Names}}", "--filter", `name=${id}`]);
  return stdout.split("\n").filter(Boolean);
}

/** The names the legacy translator gives the images (Bacalhau v1.2.1-v1.5.0); the
 * templates run the same images under them. */
export const LEGACY_NAMES = { python: "bacalhauproject/exec-python-3.11:0.5", duckdb: "bacalhauproject/exec-duckdb:0.2" };

const repository = path.resolve(import.meta.dirname, "../..");

/** Runs jobs/TEMPLATE.yaml with its variables from the environment (-E); returns the job ID. */
export async function runTemplate(
  endpoint: Endpoint,
  template: "python" | "duckdb",
  vars: Record<string, string>,
  wait = true,
): Promise<string> {
  const args = ["job", "run", "-E", "^JOB_", "--id-only", `--wait=${wait}`, path.join(repository, "jobs", `${template}.yaml`)];
  return jobId(await bacalhau(endpoint, args, { env: { JOB_IMAGE: LEGACY_NAMES[template], ...vars } }));
}

/** A bundle as the data URL a template's JOB_CODE takes. */
export const dataUrl = (bundle: Buffer): string => `data:application/gzip;base64,${bundle.toString("base64")}`;

/** Waits until a job's own container runs, not only its gateway (a stop sent before is
 * lost); the hang detector: 120 s. */
export async function untilRunning(id: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (!(await jobContainers(id)).some((name) => name.endsWith("-executor"))) {
    if (Date.now() > deadline) throw new Error(`job ${id} did not start within 120 s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Stops a running job and returns how long its containers took to go, in ms; gives up
 * (returning the time so far) after 60 s. */
export async function stopTime(endpoint: Endpoint, id: string): Promise<number> {
  const stopped = performance.now();
  await bacalhau(endpoint, ["job", "stop", id]);
  while ((await jobContainers(id)).length > 0 && performance.now() - stopped < 60_000) {
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return performance.now() - stopped;
}
