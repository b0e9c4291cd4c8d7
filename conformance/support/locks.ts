// Locks made at test time, as a project's author makes them: with the image's own uv,
// Poetry and Pipenv, against a package index. A lock is made once per test file for
// the same files and index, and shared by the tests that ask for it. And one lock no
// current tool makes: an old-format poetry.lock that keeps `poetry export` busy.
import path from "node:path";
import { execa } from "execa";
import { fixturesDir, tempDir, tree } from "./fixtures.js";
import type { IndexUrl } from "./indexes.js";
import { runPython } from "./python.js";
import { PYTHON_VERSION } from "./versions.js";

const made = new Map<string, Promise<string>>();

/** Run a locking tool in a throwaway container on the project's files (against index, when
 * it needs one); its stdout. */
function lock(index: IndexUrl | undefined, files: Record<string, string>, script: string): Promise<string> {
  const key = JSON.stringify([index?.url, files, script]);
  if (!made.has(key)) made.set(key, locking(index, files, script));
  return made.get(key)!;
}

async function locking(index: IndexUrl | undefined, files: Record<string, string>, script: string): Promise<string> {
  const job = await runPython({
    code: { path: await tree(files) },
    entrypoint: [],
    env: {
      ...(index ? { UV_INDEX_URL: index.url } : {}),
      UV_PYTHON_DOWNLOADS: "never",
      UV_NO_PROGRESS: "1",
      POETRY_CACHE_DIR: "/tmp/poetry-cache",
      PIPENV_YES: "1",
      PIPENV_VERBOSITY: "-1",
      WORKON_HOME: "/tmp/pipenv",
    },
    command: ["sh", "-c", `cp -r /code /tmp/project && cd /tmp/project && ${script}`],
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

/** The packages of oldPoetryLock: each depends on the next two, under markers. */
const OLD_LOCK_PACKAGES = 61;

/** A Poetry application with an old-format poetry.lock (lock-version 1.1) that `poetry check
 * --lock` accepts in under a second and `poetry export` reads for minutes (it ran for more than
 * six when measured): 61 packages pkg0..pkg60, each depending on the next two under markers,
 * so that the export, which works out each package's markers from the paths that lead to it,
 * has exponentially many to follow. The lock's content-hash is the image's Poetry's, computed
 * from the pyproject.toml. No index is needed: the export never gets as far as one. */
export async function oldPoetryLock(): Promise<Record<string, string>> {
  const names = Array.from({ length: OLD_LOCK_PACKAGES }, (_, i) => `pkg${i}`);
  const pyproject = [
    "[tool.poetry]",
    'name = "app"',
    'version = "0.1.0"',
    'description = ""',
    "authors = []",
    "package-mode = false",
    "",
    "[tool.poetry.dependencies]",
    `python = "^${PYTHON_VERSION}"`,
    ...names.map((name) => `${name} = "1.0"`),
    "",
  ].join("\n");
  const dependencies = (i: number): string[] => {
    if (i + 2 < OLD_LOCK_PACKAGES) {
      return [
        `pkg${i + 1} = {version = ">=1.0", markers = "sys_platform != \\"win${i}\\""}`,
        `pkg${i + 2} = {version = ">=1.0", markers = "python_version >= \\"3.${i % 9}\\""}`,
      ];
    }
    return i + 1 < OLD_LOCK_PACKAGES ? [`pkg${i + 1} = ">=1.0"`] : [];
  };
  const packages = names.flatMap((name, i) => [
    "[[package]]",
    `name = "${name}"`,
    'version = "1.0"',
    'description = ""',
    'category = "main"',
    "optional = false",
    'python-versions = "*"',
    "",
    ...(dependencies(i).length ? ["[package.dependencies]", ...dependencies(i), ""] : []),
  ]);
  const hash = (
    await lock(
      undefined,
      { "pyproject.toml": pyproject },
      `/opt/tools/bin/python -c "from poetry.factory import Factory; print(Factory().create_poetry('.').locker._get_content_hash())"`,
    )
  ).trim();
  const files = names.flatMap((name) => [
    `${name} = [`,
    `    {file = "${name}-1.0-py3-none-any.whl", hash = "sha256:${"0".repeat(64)}"},`,
    "]",
  ]);
  const metadata = ["[metadata]", 'lock-version = "1.1"', `python-versions = "^${PYTHON_VERSION}"`, `content-hash = "${hash}"`, "", "[metadata.files]"];
  return { "pyproject.toml": pyproject, "poetry.lock": [...packages, ...metadata, ...files, ""].join("\n") };
}
