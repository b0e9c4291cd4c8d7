// Runs one job container to completion, the way the orchestrator does: the code
// bundle at /code, inputs under /inputs, an optional empty /outputs, then the
// command. Returns the exit code, stdout and stderr apart, and what the job
// wrote to /outputs. The container is always removed.
import { randomUUID } from "node:crypto";
import { chmod, cp, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { execa } from "execa";
import { create as createTar, Parser } from "tar";
import type Dockerode from "dockerode";
import { GenericContainer, type StartedTestContainer, Wait } from "testcontainers";
import { inject } from "vitest";
import { demux, dockerode, FILE_LABEL, removeContainers, RUN_LABEL } from "./docker.js";
import { tempDir, writeFiles } from "./fixtures.js";

export interface Job {
  image: string;
  /** The container's command (appended to the image's entrypoint). */
  command?: string[];
  /** Replace the image's entrypoint; [] removes it, as Bacalhau's custom job types do. */
  entrypoint?: string[];
  /** Placed at /code: a buffer becomes a file, a host path is copied as it is (file or directory). */
  code?: Buffer | { path: string };
  /** Files placed under /inputs, by relative path. */
  inputs?: Record<string, string | Buffer>;
  /** Create a world-writable /outputs before the job starts, empty or holding these files. */
  outputs?: boolean | Record<string, string>;
  env?: Record<string, string>;
  user?: string;
  /** Hang detector: the job is killed and the test fails after this long. */
  timeoutMs?: number;
  /** Mount the root filesystem read-only (give the job a tmpfs /tmp with `configure`);
   * /code, /inputs and /outputs are then bind-mounted from the host instead of copied. */
  readOnlyRoot?: boolean;
  /** Further container settings (mounts, limits, network). */
  configure?: (container: JobContainer) => JobContainer;
  /** Start counts once this appears in the job's output (default: at once). */
  waitFor?: RegExp;
  /** Called once the job has started, with the engine's handle on it (to stop or signal it). */
  whileRunning?: (container: Dockerode.Container) => Promise<void>;
}

/** GenericContainer with the few engine settings it does not expose. */
export class JobContainer extends GenericContainer {
  withReadOnlyRoot(): this {
    this.hostConfig.ReadonlyRootfs = true;
    return this;
  }

  /** A memory limit with no swap beyond it, as `--memory N --memory-swap N`. */
  withMemoryLimit(bytes: number): this {
    this.hostConfig.Memory = bytes;
    this.hostConfig.MemorySwap = bytes;
    return this;
  }
}

export interface JobResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
  stderrBytes: Buffer;
  /** Files under /outputs by relative path; empty when there was no /outputs. */
  outputs: Record<string, Buffer>;
  /** Paths the job added, changed or deleted in the container's filesystem (`docker diff`). */
  changes: string[];
  /** Whether the engine reports the kernel's OOM killer ended the job. */
  oomKilled: boolean;
}

const DEFAULT_TIMEOUT_MS = 120_000;

// Each test file loads this module afresh, so this names the file's containers.
const fileId = randomUUID();

/** Remove any container this test file left behind (a test that failed or timed out mid-job). */
export const removeLeftoverJobs = (): Promise<number> => removeContainers(FILE_LABEL, fileId);

/** Lay out /code, /inputs and /outputs in a host folder, ready to be archived into the container root. */
async function stage(job: Job): Promise<string[]> {
  const root = await tempDir();
  const entries: string[] = [];
  if (Buffer.isBuffer(job.code)) {
    await writeFile(path.join(root, "code"), job.code, { mode: 0o644 });
    entries.push("code");
  } else if (job.code) {
    await cp(job.code.path, path.join(root, "code"), { recursive: true, verbatimSymlinks: true });
    // As an upload would be: readable by any uid the job runs as.
    await chmod(path.join(root, "code"), 0o755);
    entries.push("code");
  }
  if (job.inputs) {
    await writeFiles(path.join(root, "inputs"), job.inputs);
    entries.push("inputs");
  }
  if (job.outputs) {
    await mkdir(path.join(root, "outputs"));
    await chmod(path.join(root, "outputs"), 0o777);
    await writeFiles(path.join(root, "outputs"), job.outputs === true ? {} : job.outputs, 0o666);
    entries.push("outputs");
  }
  return entries.length ? [root, ...entries] : [];
}

async function readTar(stream: NodeJS.ReadableStream, prefix: string): Promise<Record<string, Buffer>> {
  const files: Record<string, Buffer> = {};
  const parser = new Parser({
    onReadEntry: (entry) => {
      const chunks: Buffer[] = [];
      entry.on("data", (chunk: Buffer) => chunks.push(chunk));
      entry.on("end", () => {
        if (entry.type === "File") files[entry.path.slice(prefix.length)] = Buffer.concat(chunks);
      });
    },
  });
  await pipeline(stream, parser);
  return files;
}

export async function runJob(job: Job): Promise<JobResult> {
  const timeoutMs = job.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let container = new JobContainer(job.image)
    .withLabels({ [RUN_LABEL]: inject("runLabel"), [FILE_LABEL]: fileId })
    .withEnvironment(job.env ?? {});
  if (job.command) container = container.withCommand(job.command);
  if (job.entrypoint) container = container.withEntrypoint(job.entrypoint);
  if (job.user) container = container.withUser(job.user);
  const [stageRoot, ...entries] = await stage(job);
  if (stageRoot && job.readOnlyRoot) {
    // Nothing can be copied into a read-only root: mount the staged folders instead.
    const mode = (entry: string) => (entry === "outputs" ? "rw" : "ro");
    container = container.withBindMounts(
      entries.map((entry) => ({ source: path.join(stageRoot, entry), target: `/${entry}`, mode: mode(entry) })),
    );
  } else if (stageRoot) {
    const tar = createTar({ cwd: stageRoot, portable: true }, entries);
    container = container.withCopyArchivesToContainer([{ tar: Readable.from(tar), target: "/" }]);
  }
  if (job.readOnlyRoot) container = container.withReadOnlyRoot();
  if (job.waitFor) container = container.withWaitStrategy(Wait.forLogMessage(job.waitFor));
  if (job.configure) container = job.configure(container);

  const docker = await dockerode();
  let started: StartedTestContainer | undefined;
  try {
    started = await container.start();
    const handle = docker.getContainer(started.getId());
    if (job.whileRunning) await job.whileRunning(handle);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const outcome = await Promise.race([handle.wait(), timedOut]).finally(() => clearTimeout(timer));
    const logs = demux((await handle.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer);
    if (outcome === "timeout") {
      throw new Error(`job did not end within ${timeoutMs} ms; its stderr so far:\n${logs.stderr.toString()}`);
    }
    const outputs = job.outputs ? await readTar(await started.copyArchiveFromContainer("/outputs"), "outputs/") : {};
    const changes = ((await handle.changes()) ?? []).map((change: { Path: string }) => change.Path);
    const { State } = await handle.inspect();
    return {
      exitCode: (outcome as { StatusCode: number }).StatusCode,
      stdout: logs.stdout.toString(),
      stderr: logs.stderr.toString(),
      stdoutBytes: logs.stdout,
      stderrBytes: logs.stderr,
      outputs,
      changes,
      oomKilled: State.OOMKilled,
    };
  } finally {
    if (started) await docker.getContainer(started.getId()).remove({ force: true, v: true });
  }
}

export interface AttachedJob {
  image: string;
  command: string[];
  /** `--memory` and `--memory-swap`, in bytes. */
  memoryBytes?: number;
  /** A host command that reads the job's stdout on its stdin; its own stdout is returned instead. */
  sink?: string[];
  timeoutMs?: number;
}

/** Run a job as `docker run` does, attached and with no log driver: every byte of its output
 * arrives unaltered (the engine's json-file logs would replace bytes that are not UTF-8) and
 * none is stored. Returns the exit code, stdout (or the sink's) and stderr. */
export async function attachedJob(job: AttachedJob): Promise<{ exitCode: number; stdout: Buffer; stderr: Buffer }> {
  const args = ["run", "--rm", "--log-driver", "none", "--label", `${RUN_LABEL}=${inject("runLabel")}`, "--label", `${FILE_LABEL}=${fileId}`];
  if (job.memoryBytes) args.push("--memory", String(job.memoryBytes), "--memory-swap", String(job.memoryBytes));
  const options = { encoding: "buffer", reject: false, stripFinalNewline: false, timeout: job.timeoutMs ?? DEFAULT_TIMEOUT_MS } as const;
  // With a sink, the job's stdout streams into it and is not also kept here.
  const run = execa("docker", [...args, job.image, ...job.command], { ...options, buffer: { stdout: !job.sink } });
  const sunk = job.sink ? await run.pipe(job.sink[0]!, job.sink.slice(1), options) : undefined;
  const result = sunk ? sunk.pipedFrom[0]! : await run;
  if (result.timedOut) throw new Error(`job did not end within ${options.timeout} ms`);
  const stdout = (sunk ?? result).stdout as Uint8Array;
  return { exitCode: result.exitCode ?? -1, stdout: Buffer.from(stdout), stderr: Buffer.from(result.stderr as Uint8Array) };
}
