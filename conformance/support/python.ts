// Shorthands for python jobs: the orchestrator's invocation, the most restricted
// way to run one, a job that reaches a package index, and what the launcher wrote.
import { pythonImage } from "./images.js";
import { type Job, type JobResult, runJob } from "./job.js";
import type { IndexUrl } from "./indexes.js";

/** The container command the orchestrator sends for a python job. */
export const launch = (...command: string[]): string[] => ["/build/launcher.py", "--", ...command];

/** A python job whose command is `python -c code`. */
export const pythonCode = (code: string): string[] => launch("python", "-c", code);

/** The most restricted way to run a job: an arbitrary uid with no passwd entry, a read-only
 * root filesystem with a writable tmpfs /tmp (and, as for every job, /code and /inputs mounted
 * read-only). */
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

/** Settings that point a job at a package index (runJob's host networking reaches it). */
export function usingIndex(index: IndexUrl, job: Omit<Job, "image">): Omit<Job, "image"> {
  return { ...job, env: { PIP_INDEX_URL: index.url, ...job.env } };
}

/** The lines the launcher itself wrote to stderr. */
export const launcherLines = (stderr: string): string[] => stderr.split("\n").filter((l) => l.startsWith("launcher: "));

/** The launcher's log, /outputs/requirements.log, of a job run with `outputs`. */
export function requirementsLog(job: Pick<JobResult, "outputs">): string {
  const log = job.outputs["requirements.log"];
  if (!log) throw new Error(`the job left no /outputs/requirements.log (it left: ${Object.keys(job.outputs).join(", ") || "nothing"})`);
  return log.toString();
}
