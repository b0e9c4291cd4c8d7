// Locks made at test time, as a project's author makes them: with the image's own uv,
// Poetry and Pipenv, against a package index. A lock is made once per test file for
// the same files and index, and shared by the tests that ask for it.
import path from "node:path";
import { execa } from "execa";
import { fixturesDir, tempDir, tree } from "./fixtures.js";
import type { IndexUrl } from "./indexes.js";
import { runPython } from "./python.js";

const made = new Map<string, Promise<string>>();

/** Run a locking tool in a throwaway container on the project's files; its stdout. */
function lock(index: IndexUrl, files: Record<string, string>, script: string): Promise<string> {
  const key = JSON.stringify([index.url, files, script]);
  if (!made.has(key)) made.set(key, locking(index, files, script));
  return made.get(key)!;
}

async function locking(index: IndexUrl, files: Record<string, string>, script: string): Promise<string> {
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
export const uvLock = (index: IndexUrl, files: Record<string, string>): Promise<string> =>
  lock(index, files, "uv lock --quiet --python /opt/venv/bin/python && cat uv.lock");

/** A PEP 751 pylock.toml of a project's dependencies, as `uv export` writes it. */
export const pylock = (index: IndexUrl, files: Record<string, string>): Promise<string> =>
  lock(
    index,
    files,
    "uv lock --quiet --python /opt/venv/bin/python && uv export --quiet --frozen --no-emit-project --format pylock.toml -o pylock.toml && cat pylock.toml",
  );

/** poetry.lock for a Poetry project (whose pyproject.toml names index as its source), made by the image's Poetry. */
export const poetryLock = (index: IndexUrl, files: Record<string, string>): Promise<string> =>
  lock(index, files, "/opt/tools/bin/poetry lock --quiet && cat poetry.lock");

/** Pipfile.lock for a Pipfile (whose source is index), made by the image's Pipenv. */
export const pipfileLock = (index: IndexUrl, files: Record<string, string>): Promise<string> =>
  lock(index, files, "/opt/tools/bin/pipenv lock >&2 && cat Pipfile.lock");
