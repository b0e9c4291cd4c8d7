// The one way the suite runs a container. Every container is made by suiteContainer,
// labelled with the run and the test file (so that a failed test's leftovers are
// removed), and a job's output is read attached, as `docker run` reads it: every byte
// unaltered (the engine's json-file logs would replace bytes that are not UTF-8) and
// none stored by the engine.
//
// runJob runs one job container to completion, the way the orchestrator does: the code
// bundle mounted at /code, inputs under /inputs, an optional empty /outputs, then the
// command. It returns the exit code, stdout and stderr apart, what the job wrote to
// /outputs and how long it ran. The container is always removed.
import { randomUUID } from "node:crypto";
import { chmod, cp, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type Dockerode from "dockerode";
import { GenericContainer } from "testcontainers";
import { inject } from "vitest";
import { demux, dockerode, FILE_LABEL, removeContainers, RUN_LABEL } from "./docker.js";
import { tempDir, writeFiles } from "./fixtures.js";

export interface Job {
  image: string;
  /** The container's command (appended to the image's entrypoint). */
  command?: string[];
  /** Replace the image's entrypoint; [] removes it, as Bacalhau's custom job types do. */
  entrypoint?: string[];
  /** Mounted read-only at /code: a buffer as a file, a host path as a copy of it (file or directory). */
  code?: Buffer | { path: string };
  /** Files mounted read-only under /inputs, by relative path. */
  inputs?: Record<string, string | Buffer>;
  /** Mount a world-writable /outputs, empty or holding these files. */
  outputs?: boolean | Record<string, string>;
  env?: Record<string, string>;
  user?: string;
  /** Written to the job's standard input, which is then closed (`docker run -i IMAGE < FILE`);
   * without it, standard input is empty. */
  stdin?: string | Buffer;
  /** Receives the job's stdout as it arrives, which is then not kept (for more output than
   * the suite should hold); the result's stdout is empty. */
  onStdout?: (bytes: Buffer) => void;
  /** Hang detector: the job is killed and the test fails after this long. */
  timeoutMs?: number;
  /** Mount the root filesystem read-only (give the job a tmpfs /tmp with `configure`). */
  readOnlyRoot?: boolean;
  /** Further container settings (mounts, limits, network). */
  configure?: (container: JobContainer) => JobContainer;
  /** Start counts once a whole line of the job's output matches this (default: at once). */
  waitFor?: RegExp;
  /** Called once the job has started, with the engine's handle on it (to stop or signal it). */
  whileRunning?: (container: Dockerode.Container) => Promise<void>;
  /** List what the job changed in the container's filesystem, as `docker diff` does (mounts,
   * such as a tmpfs /tmp, are not part of it). */
  listChanges?: boolean;
}

type BindMount = Parameters<GenericContainer["withBindMounts"]>[0][number];

/** GenericContainer with the few engine settings it does not expose. */
export class JobContainer extends GenericContainer {
  /** Called once the container exists, before it starts (to attach to it). */
  onCreated?: (id: string) => Promise<void>;

  protected override async containerCreated(id: string): Promise<void> {
    await this.onCreated?.(id);
  }

  /** Mount these too (GenericContainer's own replaces the mounts given before). */
  override withBindMounts(mounts: BindMount[]): this {
    const before = this.hostConfig.Binds ?? [];
    super.withBindMounts(mounts);
    this.hostConfig.Binds = [...before, ...(this.hostConfig.Binds ?? [])];
    return this;
  }

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

  /** At most this many processes and threads in the container, as `--pids-limit N`. */
  withPidsLimit(count: number): this {
    this.hostConfig.PidsLimit = count;
    return this;
  }

  /** Keep standard input open until the attached client closes it (`docker run -i`). */
  withOpenStdin(): this {
    Object.assign(this.createOpts, { OpenStdin: true, StdinOnce: true, AttachStdin: true });
    return this;
  }

  /** No log driver: the output is only what an attached client reads (`--log-driver none`). */
  withoutLogs(): this {
    this.hostConfig.LogConfig = { Type: "none", Config: {} };
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
  /** With listChanges: the paths the job added, changed or deleted in the container's filesystem. */
  changes?: string[];
  /** Whether the engine reports the kernel's OOM killer ended the job. */
  oomKilled: boolean;
  /** How long the container ran, from the engine's start and finish times, in seconds. */
  seconds: number;
}

const DEFAULT_TIMEOUT_MS = 120_000;

// Names the containers of the test file that runs (a worker runs one file at a time).
let fileId = randomUUID();

/** Give the containers started from now on the label of a new test file (setup.ts does, before each). */
export function startTestFile(): void {
  fileId = randomUUID();
}

/** Remove any container this test file left behind (a test that failed or timed out mid-job). */
export const removeLeftoverJobs = (): Promise<number> => removeContainers(FILE_LABEL, fileId);

/** A container of this run and this test file: every container the suite starts is made here. */
export function suiteContainer(image: string): JobContainer {
  return new JobContainer(image).withLabels({ [RUN_LABEL]: inject("runLabel"), [FILE_LABEL]: fileId });
}

/** Lay out /code, /inputs and /outputs in a host folder, to be mounted as an orchestrator
 * mounts them: /code and /inputs read-only, /outputs writable by any uid. Returns the mounts. */
async function stage(job: Job): Promise<BindMount[]> {
  const root = await tempDir();
  const at = (name: string) => path.join(root, name);
  const mounts: BindMount[] = [];
  if (Buffer.isBuffer(job.code)) {
    await writeFile(at("code"), job.code, { mode: 0o644 });
    mounts.push({ source: at("code"), target: "/code", mode: "ro" });
  } else if (job.code) {
    await cp(job.code.path, at("code"), { recursive: true, verbatimSymlinks: true });
    // As an upload would be: readable by any uid the job runs as.
    await chmod(at("code"), 0o755);
    mounts.push({ source: at("code"), target: "/code", mode: "ro" });
  }
  if (job.inputs) {
    await writeFiles(at("inputs"), job.inputs);
    mounts.push({ source: at("inputs"), target: "/inputs", mode: "ro" });
  }
  if (job.outputs) {
    await mkdir(at("outputs"));
    await chmod(at("outputs"), 0o777);
    await writeFiles(at("outputs"), job.outputs === true ? {} : job.outputs, 0o666);
    mounts.push({ source: at("outputs"), target: "/outputs", mode: "rw" });
  }
  return mounts;
}

/** The regular files under dir, by relative path. */
async function readFiles(dir: string): Promise<Record<string, Buffer>> {
  const files: Record<string, Buffer> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const file = path.join(entry.parentPath, entry.name);
      files[path.relative(dir, file)] = await readFile(file);
    }
  }
  return files;
}

/** The paths a stopped container added, changed or deleted, as `docker diff` lists them: read
 * from its overlay2 layer when that is on this machine (the engine's own diff compares the whole
 * image with the container, which takes it a second of work), else from the engine. */
async function changedPaths(handle: Dockerode.Container, info: Dockerode.ContainerInspectInfo): Promise<string[]> {
  const layer = info.GraphDriver.Name === "overlay2" ? (info.GraphDriver.Data as { UpperDir?: string } | undefined)?.UpperDir : undefined;
  if (layer) {
    const entries = await readdir(layer, { recursive: true }).catch(() => undefined);
    if (entries) return entries.map((entry) => `/${entry}`).sort();
  }
  return ((await handle.changes()) ?? []).map((change: { Path: string }) => change.Path);
}

/** The engine's RFC 3339 time (nanoseconds included) in seconds since the epoch. */
function engineSeconds(time: string): number {
  const [, whole, fraction] = time.match(/^([^.Z]+)(\.\d+)?Z$/)!;
  return Date.parse(`${whole}Z`) / 1000 + Number(fraction ?? 0);
}

/** The job's output as it arrives: kept (or handed to onStdout), and watched for a message. */
class Output {
  readonly stdout: Buffer[] = [];
  readonly stderr: Buffer[] = [];
  /** Resolves once a whole line of stdout or stderr matches the message (at once without one). */
  readonly appeared: Promise<void>;
  private readonly seen = { 1: "", 2: "" };
  private found?: () => void;

  constructor(
    private readonly message: RegExp | undefined,
    private readonly onStdout?: (bytes: Buffer) => void,
  ) {
    this.appeared = message ? new Promise((resolve) => (this.found = resolve)) : Promise.resolve();
  }

  take = (fd: 1 | 2, bytes: Buffer): void => {
    if (fd === 1 && this.onStdout) this.onStdout(bytes);
    else (fd === 1 ? this.stdout : this.stderr).push(bytes);
    if (this.found) {
      // Whole lines only: a job may be stopped the moment it has written them.
      const seen = (this.seen[fd] += bytes.toString("utf8"));
      if (this.message!.test(seen.slice(0, seen.lastIndexOf("\n") + 1))) {
        this.found();
        this.found = undefined;
      }
    }
  };

  /** Resolves once the message has appeared; rejects if the job ends first. */
  until(ended: Promise<unknown>): Promise<void> {
    const gone = ended.then(() => {
      throw new Error(`the job ended before ${this.message} appeared in its output; its stderr:\n${Buffer.concat(this.stderr)}`);
    });
    return Promise.race([this.appeared, gone]);
  }
}

export async function runJob(job: Job): Promise<JobResult> {
  const timeoutMs = job.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  // The host's network unless the test sets another: a network namespace of its own costs
  // the engine about a fifth of a CPU-second per container, and no job needs one.
  let container = suiteContainer(job.image).withoutLogs().withNetworkMode("host").withEnvironment(job.env ?? {});
  if (job.command) container = container.withCommand(job.command);
  if (job.entrypoint) container = container.withEntrypoint(job.entrypoint);
  if (job.user) container = container.withUser(job.user);
  if (job.stdin !== undefined) container = container.withOpenStdin();
  const mounts = await stage(job);
  container = container.withBindMounts(mounts);
  if (job.readOnlyRoot) container = container.withReadOnlyRoot();
  if (job.configure) container = job.configure(container);

  const docker = await dockerode();
  const output = new Output(job.waitFor, job.onStdout);
  let handle: Dockerode.Container | undefined;
  let attached: NodeJS.ReadWriteStream | undefined;
  let streamed: Promise<void> = Promise.resolve();
  container.onCreated = async (id) => {
    handle = docker.getContainer(id);
    // Attached before it starts, so that no byte is missed.
    const stdin = job.stdin !== undefined;
    attached = await handle.attach({ stream: true, stdout: true, stderr: true, stdin, hijack: stdin });
    streamed = demux(attached, output.take);
    // Awaited below; a stream cut when a job that timed out is removed is no further failure.
    streamed.catch(() => undefined);
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    await container.start();
    if (!handle || !attached) throw new Error("the container was started without being attached");
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`job did not end within ${timeoutMs} ms; its stderr so far:\n${Buffer.concat(output.stderr)}`)),
        timeoutMs,
      );
    });
    if (job.stdin !== undefined) attached.end(job.stdin);
    const exited = handle.wait();
    if (job.waitFor) await Promise.race([output.until(exited), deadline]);
    if (job.whileRunning) await Promise.race([job.whileRunning(handle), deadline]);
    const { StatusCode: exitCode } = (await Promise.race([exited, deadline])) as { StatusCode: number };
    // The attached stream ends once the engine has passed on the last byte.
    await Promise.race([streamed, deadline]);
    const outputsDir = mounts.find((mount) => mount.target === "/outputs")?.source;
    const outputs = outputsDir ? await readFiles(outputsDir) : {};
    const info = await handle.inspect();
    const changes = job.listChanges ? await changedPaths(handle, info) : undefined;
    const stdout = Buffer.concat(output.stdout);
    const stderr = Buffer.concat(output.stderr);
    return {
      exitCode,
      stdout: stdout.toString(),
      stderr: stderr.toString(),
      stdoutBytes: stdout,
      stderrBytes: stderr,
      outputs,
      changes,
      oomKilled: info.State.OOMKilled,
      seconds: engineSeconds(info.State.FinishedAt) - engineSeconds(info.State.StartedAt),
    };
  } finally {
    clearTimeout(timer);
    if (handle) await handle.remove({ force: true, v: true });
  }
}
