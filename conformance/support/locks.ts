// Locks made at test time, as a project's author makes them: with the image's own uv,
// against the suite's package index.
import path from "node:path";
import { execa } from "execa";
import { fixturesDir, tempDir, tree } from "./fixtures.js";
import type { PackageIndex } from "./package-index.js";
import { runPython } from "./python.js";

/** Run a locking tool in a throwaway container on the project's files; its stdout. */
async function uv(index: PackageIndex, files: Record<string, string>, script: string): Promise<string> {
  const job = await runPython({
    code: { path: await tree(files) },
    entrypoint: [],
    env: {
      UV_INDEX_URL: index.url,
      UV_PYTHON_DOWNLOADS: "never",
      UV_NO_PROGRESS: "1",
      POETRY_CACHE_DIR: "/tmp/poetry-cache",
      PIPENV_YES: "1",
      PIPENV_VERBOSITY: "-1",
      WORKON_HOME: "/tmp/pipenv",
    },
    command: ["sh", "-c", `cp -r /code /tmp/project && cd /tmp/project && ${script}`],
    configure: (container) => container.withNetworkMode("host"),
  });
  if (job.exitCode !== 0) throw new Error(`locking failed (exit ${job.exitCode}):\n${job.stderr}`);
  return job.stdout;
}

/** uv.lock for a project (its pyproject.toml and files), locked against index. */
export const uvLock = (index: PackageIndex, files: Record<string, string>): Promise<string> =>
  uv(index, files, "uv lock --quiet --python /opt/venv/bin/python && cat uv.lock");

/** A PEP 751 pylock.toml of a project's dependencies, as `uv export` writes it. */
export const pylock = (index: PackageIndex, files: Record<string, string>): Promise<string> =>
  uv(
    index,
    files,
    "uv lock --quiet --python /opt/venv/bin/python && uv export --quiet --frozen --no-emit-project --format pylock.toml -o pylock.toml && cat pylock.toml",
  );

/** poetry.lock for a Poetry project (whose pyproject.toml names index as its source), made by the image's Poetry. */
export const poetryLock = (index: PackageIndex, files: Record<string, string>): Promise<string> =>
  uv(index, files, "/opt/tools/bin/poetry lock --quiet && cat poetry.lock");

/** Pipfile.lock for a Pipfile (whose source is index), made by the image's Pipenv. */
export const pipfileLock = (index: PackageIndex, files: Record<string, string>): Promise<string> =>
  uv(index, files, "/opt/tools/bin/pipenv lock >&2 && cat Pipfile.lock");

/** A folder of distributions that replace greeting 1.0.0 with other contents under the same name. */
export async function tamperedDists(): Promise<string> {
  const dir = await tempDir();
  await execa("python3", [path.join(fixturesDir, "make_dists.py"), dir, "--tampered"]);
  return dir;
}

/** A folder of releases of the image's default libraries (make_dists.py --decoys). */
export async function decoyDists(): Promise<string> {
  const dir = await tempDir();
  await execa("python3", [path.join(fixturesDir, "make_dists.py"), dir, "--decoys"]);
  return dir;
}
