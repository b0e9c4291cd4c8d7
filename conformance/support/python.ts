// Shorthands for python jobs: the orchestrator's invocation, the most restricted
// way to run one, and a job that reaches the suite's package index.
import { pythonImage } from "./images.js";
import { type Job, type JobResult, runJob } from "./job.js";
import type { PackageIndex } from "./package-index.js";

/** The container command the orchestrator sends for a python job. */
export const launch = (...command: string[]): string[] => ["/build/launcher.py", "--", ...command];

/** A python job whose command is `python -c code`. */
export const pythonCode = (code: string): string[] => launch("python", "-c", code);

/** The most restricted way to run a job: an arbitrary uid with no passwd entry, a read-only
 * root filesystem with a writable tmpfs /tmp, and /code, /inputs, /outputs bind-mounted. */
export function restricted(job: Omit<Job, "image">): Omit<Job, "image"> {
  const configure = job.configure;
  return {
    ...job,
    user: "12345:12345",
    readOnlyRoot: true,
    configure: (container) => (configure ? configure(container) : container).withTmpFs({ "/tmp": "rw,exec" }),
  };
}

export const runPython = (job: Omit<Job, "image">): Promise<JobResult> => runJob({ image: pythonImage(), ...job });

/** Settings that point a job at the suite's package index (over host networking). */
export function usingIndex(index: Pick<PackageIndex, "url">, job: Omit<Job, "image">): Omit<Job, "image"> {
  const configure = job.configure;
  return {
    ...job,
    env: { PIP_INDEX_URL: index.url, ...job.env },
    configure: (container) => (configure ? configure(container) : container).withNetworkMode("host"),
  };
}

/** The lines the launcher itself wrote to stderr. */
export const launcherLines = (stderr: string): string[] => stderr.split("\n").filter((l) => l.startsWith("launcher: "));
