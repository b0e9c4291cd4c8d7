// make bench: what a job pays for the launcher and its installs, measured side by
// side with what a user would run without them, in one run on this machine.
// Every figure is the ratio of two medians of commands run alternately. Prints a
// Markdown table; writes every raw sample to reports/bench.json (BENCH_JSON).
// BENCH_RUNS sets the runs per command (default 10); BENCH_SUITE=0 skips timing
// `make test`; BENCH_CASES=1,2 runs only those cases (8: the locked installs; 9: what a
// node pulls, and what each default library costs). The goals are targets, not
// thresholds: nothing here fails on a slow machine.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { execa } from "execa";
import { Parser } from "tar";
import { imageFor } from "../conformance/support/build.js";
import { tempDir, tgz } from "../conformance/support/fixtures.js";
import { startPackageIndex } from "../conformance/support/package-index.js";
import { PYTHON_TAG, PYTHON_VERSION } from "../conformance/support/versions.js";

const root = path.resolve(import.meta.dirname, "..");
const cache = path.join(root, ".cache", "bench");
const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const say = (message: string) => console.error(`bench: ${message}`);

interface Side {
  label: string;
  samples: number[];
}

interface Row {
  case: string;
  a: Side;
  b?: Side;
  /** What the ratio a/b (or the figure) is compared with, and whether it is met. */
  goal: string;
  figure: string;
  met?: boolean;
}

const rows: Row[] = [];
/** Tables printed after the main one (case 9). */
const extraReports: string[] = [];
const median = (xs: number[]) => {
  const sorted = [...xs].sort((x, y) => x - y);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const seconds = (x: number) => (x >= 10 ? `${x.toFixed(1)} s` : x >= 1 ? `${x.toFixed(2)} s` : `${(x * 1000).toFixed(0)} ms`);

/** Wall time of one command, in seconds; it must succeed. */
async function timed(command: string[]): Promise<number> {
  const started = performance.now();
  const result = await execa(command[0]!, command.slice(1), { reject: false, stdout: "ignore" });
  const elapsed = (performance.now() - started) / 1000;
  if (result.exitCode !== 0) throw new Error(`${command.join(" ")} exited ${result.exitCode}:\n${result.stderr.slice(-2000)}`);
  return elapsed;
}

interface Command {
  run: string[];
}

/** Run two commands RUNS times each, alternating which goes first, after a warm-up run of
 * each that is not counted, on a disk with nothing left to write back from the set-up.
 * bench/alternate.py times them: on the host, or inside one container started with
 * dockerArgs. */
async function alternate(a: Command, b: Command, dockerArgs?: string[]): Promise<[number[], number[]]> {
  const script = path.join(root, "bench/alternate.py");
  const spec = JSON.stringify({ runs: RUNS, a, b });
  const command = dockerArgs
    ? ["docker", "run", "--rm", "-v", `${script}:/bench/alternate.py:ro`, ...dockerArgs, "python3", "/bench/alternate.py", spec]
    : ["python3", script, spec];
  await execa("sync");
  const result = await execa(command[0]!, command.slice(1));
  const samples = JSON.parse(result.stdout) as { a: number[]; b: number[] };
  return [samples.a, samples.b];
}

/** A row whose figure is median(a) / median(b), against goal when there is one. */
function ratioRow(name: string, labels: [string, string], [a, b]: [number[], number[]], goal?: number) {
  const ratio = median(a) / median(b);
  rows.push({
    case: name,
    a: { label: labels[0], samples: a },
    b: { label: labels[1], samples: b },
    goal: goal === undefined ? "(report)" : `≤ ${goal.toFixed(2)}×`,
    figure: `${ratio.toFixed(2)}× (${seconds(median(a))} / ${seconds(median(b))})`,
    met: goal === undefined ? undefined : ratio <= goal,
  });
}

// --- Fixtures ------------------------------------------------------------------

/** Wheels for the image's Python on this machine's architecture, downloaded once from PyPI into dir
 * (pip download with args; more, if given, adds to them). */
async function imageWheels(dir: string, args: string[], more?: () => Promise<unknown>): Promise<string> {
  if (!existsSync(path.join(dir, ".complete"))) {
    const platform = os.arch() === "arm64" ? "aarch64" : "x86_64";
    await execa("python3", [
      "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--python-version", PYTHON_VERSION,
      "--implementation", "cp", "--abi", `cp${PYTHON_TAG}`, "--abi", "abi3", "--abi", "none",
      ...["manylinux2014", "manylinux_2_17", "manylinux_2_28"].flatMap((tag) => ["--platform", `${tag}_${platform}`]),
      ...args, "-d", dir,
    ]);
    await more?.();
    await writeFile(path.join(dir, ".complete"), "");
  }
  return dir;
}

/** The wheels of bench/requirements.txt for this machine. */
function benchWheels(): Promise<string> {
  const dir = path.join(cache, `wheels-${os.arch()}`);
  say(`the wheels of bench/requirements.txt are in ${dir}`);
  return imageWheels(dir, ["--no-deps", "-r", path.join(root, "bench/requirements.txt")]);
}

/** Dependencies of bench/locked.in on Windows alone (click's and tqdm's colorama), pinned here. */
const WINDOWS_ONLY = ["colorama==0.4.6"];

/** The wheels that bench/locked.in resolves to for this machine (pip resolves them). */
function lockedWheels(): Promise<string> {
  const dir = path.join(cache, `locked-wheels-${os.arch()}`);
  say(`what bench/locked.in resolves to is in ${dir}`);
  // uv and Poetry lock for every platform: what some projects need on Windows only.
  return imageWheels(dir, ["-r", path.join(root, "bench/locked.in")], () =>
    execa("python3", ["-m", "pip", "download", "--quiet", "--no-deps", "-d", dir, ...WINDOWS_ONLY]),
  );
}

/** Run a locking tool of the image in a container on files, against the index: its stdout. */
async function lockWith(python: string, indexUrl: string, files: Record<string, string>, script: string): Promise<string> {
  const project = await tempDir();
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(project, name), text);
  const env = { UV_INDEX_URL: indexUrl, UV_PYTHON_DOWNLOADS: "never", POETRY_CACHE_DIR: "/tmp/pc", PIPENV_YES: "1", PIPENV_VERBOSITY: "-1", WORKON_HOME: "/tmp/wh" };
  const result = await execa("docker", [
    "run", "--rm", "--network", "host", "--entrypoint", "sh", "-v", `${project}:/project:ro`,
    ...Object.entries(env).flatMap(([name, value]) => ["-e", `${name}=${value}`]),
    python, "-c", `cp -r /project /tmp/p && cd /tmp/p && ${script}`,
  ]);
  return result.stdout;
}

async function lockedInstalls(python: string) {
  const index = await startPackageIndex({ extraDirs: [await lockedWheels()] });
  try {
    const wanted = (await readFile(path.join(root, "bench/locked.in"), "utf8")).split("\n").filter((line) => line && !line.startsWith("#"));
    const pyproject = `[project]\nname = "bench"\nversion = "0.1.0"\nrequires-python = "==${PYTHON_VERSION}.*"\ndependencies = ${JSON.stringify(wanted)}\n`;
    const poetry = `${pyproject}\n[tool.poetry]\npackage-mode = false\n\n[[tool.poetry.source]]\nname = "bench"\nurl = "${index.url}"\npriority = "primary"\n`;
    const pipfile = `[[source]]\nurl = "${index.url}"\nverify_ssl = false\nname = "bench"\n\n[packages]\n${wanted.map((name) => `${name} = "*"`).join("\n")}\n`;
    say("8. locking bench/locked.in with uv, Poetry and Pipenv");
    const uvLock = "uv lock --quiet --python /opt/venv/bin/python";
    const bundles: Record<string, Record<string, string>> = {
      unlocked: { "pyproject.toml": pyproject },
      "uv.lock": { "pyproject.toml": pyproject, "uv.lock": await lockWith(python, index.url, { "pyproject.toml": pyproject }, `${uvLock} && cat uv.lock`) },
      "poetry.lock": { "pyproject.toml": poetry, "poetry.lock": await lockWith(python, index.url, { "pyproject.toml": poetry }, "/opt/tools/bin/poetry lock --quiet && cat poetry.lock") },
      "Pipfile.lock": { Pipfile: pipfile, "Pipfile.lock": await lockWith(python, index.url, { Pipfile: pipfile }, "/opt/tools/bin/pipenv lock >&2 && cat Pipfile.lock") },
      "pylock.toml": {
        "pylock.toml": await lockWith(python, index.url, { "pyproject.toml": pyproject }, `${uvLock} && uv export --quiet --frozen --no-emit-project --format pylock.toml -o pylock.toml && cat pylock.toml`),
      },
    };
    const files: Record<string, string> = {};
    for (const [name, contents] of Object.entries(bundles)) {
      files[name] = path.join(await tempDir(), "bundle.tgz");
      await writeFile(files[name]!, await tgz(contents));
    }
    const job = (name: string, ...extra: string[]) => [
      "docker", "run", "--rm", "--network", "host", "-e", `PIP_INDEX_URL=${index.url}`, "-v", `${files[name]}:/code:ro`, ...extra,
      python, "/build/launcher.py", "--", "true",
    ];
    say("8. locked installs, cold (43 distributions)");
    const [uvCold, unlocked] = await alternate({ run: job("uv.lock") }, { run: job("unlocked") });
    const [poetryCold, pipenvCold] = await alternate({ run: job("poetry.lock") }, { run: job("Pipfile.lock") });
    say("8. uv.lock, warm cache mounted from the host");
    const uvCache = path.join(await tempDir(), "uv-cache");
    await mkdir(uvCache);
    const warm = job("uv.lock", "-v", `${uvCache}:/cache`, "-e", "UV_CACHE_DIR=/cache");
    await timed(warm);
    const [pylockCold, uvWarm] = await alternate({ run: job("pylock.toml") }, { run: warm });
    const unlockedLabel = "pyproject.toml, no lock";
    ratioRow("8. locked install, cold: uv.lock against no lock", ["uv.lock", unlockedLabel], [uvCold, unlocked]);
    ratioRow("8. locked install, cold: poetry.lock against no lock", ["poetry.lock", unlockedLabel], [poetryCold, unlocked]);
    ratioRow("8. locked install, cold: Pipfile.lock against no lock", ["Pipfile.lock", unlockedLabel], [pipenvCold, unlocked]);
    ratioRow("8. locked install, cold: pylock.toml against no lock", ["pylock.toml", unlockedLabel], [pylockCold, unlocked]);
    ratioRow("8. locked install, uv.lock, warm cache against cold", ["uv.lock, warm", "uv.lock, cold"], [uvWarm, uvCold], 1 / 3);
  } finally {
    await index.close();
  }
}

/** A bundle of count files and about bytes in all: text, as code and data mostly are. */
async function bundleOf(count: number, bytes: number): Promise<string> {
  const files: Record<string, string> = {};
  for (let i = 0; i < count; i++) {
    files[`project/part${String(i % 50).padStart(2, "0")}/file${i}.txt`] = randomBytes((bytes / count) * 0.75).toString("base64");
  }
  const file = path.join(await tempDir(), "bundle.tgz");
  await writeFile(file, await tgz(files));
  return file;
}

/** The DuckDB CLI of the image, from the same hash-pinned wheel, in a host environment. */
async function hostDuckdb(): Promise<string> {
  const requirements = await readFile(path.join(root, "images/duckdb/requirements.txt"), "utf8");
  const block = requirements.match(/^duckdb-cli==\S+(?: \\\n\s+--hash=\S+)+/m)![0];
  const venv = path.join(cache, `duckdb-${block.split(/\s/)[0]!.split("==")[1]}-${os.arch()}`);
  const duckdb = path.join(venv, "bin", "duckdb");
  if (!existsSync(duckdb)) {
    say(`installing ${block.split(/\s/)[0]} into ${venv}`);
    const pins = path.join(await tempDir(), "requirements.txt");
    await writeFile(pins, `${block.replace(/ \\$/, "")}\n`);
    await execa("python3", ["-m", "venv", venv]);
    await execa(path.join(venv, "bin", "pip"), ["install", "--quiet", "--require-hashes", "-r", pins]);
  }
  return duckdb;
}

// --- Cases -----------------------------------------------------------------------

async function launcherOverhead(python: string) {
  say("1. launcher overhead");
  const bundle = path.join(await tempDir(), "bundle.tgz");
  await writeFile(bundle, await tgz({ "main.py": "pass\n" }));
  const code = ["-v", `${bundle}:/code:ro`];
  ratioRow(
    "1. launcher overhead, whole `docker run`",
    ["launcher -- python -c pass", "python -c pass"],
    await alternate(
      { run: ["docker", "run", "--rm", ...code, python, "/build/launcher.py", "--", "python", "-c", "pass"] },
      { run: ["docker", "run", "--rm", ...code, python, "python", "-c", "pass"] },
    ),
    1.1,
  );
  const [a, b] = await alternate(
    { run: ["/build/launcher.py", "--", "python", "-c", "pass"] },
    { run: ["python", "-c", "pass"] },
    [...code, python],
  );
  const added = median(a) - median(b);
  rows.push({
    case: "1. launcher overhead, inside the container",
    a: { label: "launcher -- python -c pass", samples: a },
    b: { label: "python -c pass", samples: b },
    goal: "≤ 45 ms added",
    figure: `+${(added * 1000).toFixed(0)} ms (${seconds(median(a))} / ${seconds(median(b))})`,
    met: added <= 0.045,
  });
}

async function extraction(python: string) {
  say("2. extraction of 5 000 files, 50 MB");
  const bundle = await bundleOf(5000, 50e6);
  ratioRow(
    "2. extraction, 5 000 files, 50 MB",
    ["launcher (extract, detect, run true)", "tar -xzf"],
    await alternate(
      // Each run extracts into a fresh directory, so that no run pays for removing the
      // files of the one before.
      { run: ["sh", "-c", "LAUNCHER_WORKDIR=/tmp/job-$$ exec /build/launcher.py -- true"] },
      { run: ["sh", "-c", "mkdir /tmp/tar-$$ && exec tar -xzf /code -C /tmp/tar-$$"] },
      // On a tmpfs /tmp, so that what is timed is the extraction, not this disk's writeback
      // (the runs write over a gigabyte in all).
      ["-v", `${bundle}:/code:ro`, "--tmpfs", "/tmp:exec,size=3g", "-e", "LAUNCHER_REQUIREMENTS=none", python],
    ),
    1.2,
  );
}

async function installs(python: string) {
  const index = await startPackageIndex({ extraDirs: [await benchWheels()] });
  try {
    const work = await tempDir();
    const requirements = path.join(work, "requirements.txt");
    await copyFile(path.join(root, "bench/requirements.txt"), requirements);
    const bundle = path.join(work, "bundle.tgz");
    await writeFile(bundle, await tgz({ "requirements.txt": await readFile(requirements) }));
    const run = ["docker", "run", "--rm", "--network", "host", "-e", `PIP_INDEX_URL=${index.url}`];
    const launcher = (...extra: string[]) => [...run, "-v", `${bundle}:/code:ro`, ...extra, python, "/build/launcher.py", "--", "true"];
    const pip = (...extra: string[]) => [
      ...run, "-v", `${requirements}:/bench/requirements.txt:ro`, ...extra, python,
      "pip", "install", "--quiet", "--disable-pip-version-check", "-r", "/bench/requirements.txt",
    ];

    say("3. install, cold cache (24 distributions)");
    const cold = await alternate({ run: launcher() }, { run: pip() });
    ratioRow("3. install, cold cache, 24 distributions", ["launcher (uv)", "pip install -r"], cold, 1 / 3);

    say("4. install, warm cache");
    const uvCache = path.join(work, "uv-cache");
    const pipCache = path.join(work, "pip-cache");
    await mkdir(uvCache);
    await mkdir(pipCache);
    const warmLauncher = launcher("-v", `${uvCache}:/cache`, "-e", "UV_CACHE_DIR=/cache");
    const warmPip = pip("-v", `${pipCache}:/cache`, "-e", "PIP_CACHE_DIR=/cache");
    await timed(warmLauncher);
    await timed(warmPip);
    const [warmA, warmB] = await alternate({ run: warmLauncher }, { run: warmPip });
    ratioRow("4. install, warm cache, against cold pip", ["launcher (uv), warm", "pip install -r, cold"], [warmA, cold[1]], 0.1);
    ratioRow("4. install, warm cache, against warm pip", ["launcher (uv), warm", "pip install -r, warm"], [warmA, warmB]);
  } finally {
    await index.close();
  }
}

async function duckdbAggregate(duckdb: string) {
  say("5. DuckDB aggregate over a 5-million-row CSV");
  const host = await hostDuckdb();
  const dir = path.join(cache, "duckdb-input");
  const csv = path.join(dir, "data.csv");
  if (!existsSync(csv)) {
    await mkdir(dir, { recursive: true });
    const generate = `COPY (SELECT i AS id, i % 100000 AS k, (i * 7) % 1000 AS v, md5(i::VARCHAR) AS pad FROM range(5000000) t(i)) TO '${csv}'`;
    await execa(host, ["-c", generate]);
  }
  const query = (file: string) => `SELECT count(*), count(DISTINCT k), sum(v), avg(v) FROM read_csv('${file}')`;
  ratioRow(
    "5. DuckDB, 5M-row CSV aggregate",
    ["exec-duckdb (docker run)", "same CLI on the host"],
    await alternate(
      { run: ["docker", "run", "--rm", "-v", `${dir}:/inputs:ro`, duckdb, "-csv", "-c", query("/inputs/data.csv")] },
      { run: [host, "-csv", "-c", query(csv)] },
    ),
    1.15,
  );
  // What the container adds before any query runs: the rest of the gap.
  const [start] = await alternate({ run: ["docker", "run", "--rm", "-v", `${dir}:/inputs:ro`, duckdb, "-c", "SELECT 1"] }, { run: ["true"] });
  rows.push({
    case: "5. DuckDB, `docker run` of `SELECT 1` alone",
    a: { label: "exec-duckdb -c 'SELECT 1'", samples: start },
    goal: "(report)",
    figure: seconds(median(start)),
  });
}

async function suite() {
  if (process.env.BENCH_SUITE === "0") {
    rows.push({ case: "6. `make test`, images built", a: { label: "make test", samples: [] }, goal: "(report)", figure: "skipped (BENCH_SUITE=0)" });
    return;
  }
  say("6. make test (once)");
  const wall = await timed(["make", "-C", root, "test"]);
  rows.push({ case: "6. `make test`, images built", a: { label: "make test", samples: [wall] }, goal: "(report)", figure: seconds(wall) });
}

interface Layer {
  size: number;
  createdBy: string;
}

async function history(image: string): Promise<Layer[]> {
  const result = await execa("docker", ["history", "--no-trunc", "--human=false", "--format", "{{.Size}}\t{{.CreatedBy}}", image]);
  return result.stdout
    .split("\n")
    .reverse()
    .map((line) => {
      const [size, ...rest] = line.split("\t");
      return { size: Number(size), createdBy: rest.join("\t").replace(/\s+/g, " ") };
    });
}

async function sizes(images: Record<string, string>, base: string) {
  say("7. image sizes");
  const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;
  const inspectSize = async (image: string) => Number((await execa("docker", ["image", "inspect", "--format", "{{.Size}}", image])).stdout);
  const baseLayers = (await history(base)).length;
  for (const [kind, image] of Object.entries(images)) {
    const layers = (await history(image)).slice(baseLayers).filter((layer) => layer.size > 0);
    const shown = layers.map((layer) => `${mb(layer.size)} ${step(layer.createdBy)}`);
    const venvLayers = layers.filter((layer) => layer.size > 10e6 && layer.createdBy.includes("/opt/venv"));
    rows.push({
      case: `7. ${kind} image size`,
      a: { label: image, samples: [await inspectSize(image)] },
      goal: kind === "python" ? "defaults in one layer" : "(report)",
      figure: `${mb(await inspectSize(image))} (base ${mb(await inspectSize(base))}); layers above the base: ${shown.join("; ")}`,
      met: kind === "python" ? venvLayers.length === 1 : undefined,
    });
  }
}

interface PulledLayer {
  bytes: number;
  compressed: number;
  createdBy: string;
}

/** Every layer of IMAGE in order, its size and its size compressed as a push compresses it
 * (gzip level 6), from `docker save`: what a node that has none of them downloads. */
async function pulledLayers(image: string): Promise<PulledLayer[]> {
  const measured = new Map<string, Promise<[number, number]>>();
  const documents = new Map<string, Buffer>();
  // `docker save` stores a layer that occurs twice once, and links the second to it.
  const links = new Map<string, string>();
  const parser = new Parser({
    onReadEntry: (entry) => {
      if (entry.type === "SymbolicLink") links.set(entry.path, path.posix.join(path.posix.dirname(entry.path), entry.linkpath!));
      if (entry.type !== "File") return entry.resume();
      if (entry.path.endsWith(".json") || entry.path === "manifest.json") {
        const chunks: Buffer[] = [];
        entry.on("data", (chunk: Buffer) => chunks.push(chunk));
        entry.on("end", () => documents.set(entry.path, Buffer.concat(chunks)));
        return;
      }
      let bytes = 0;
      let compressed = 0;
      const gzip = createGzip({ level: 6 });
      gzip.on("data", (chunk: Buffer) => (compressed += chunk.length));
      entry.on("data", (chunk: Buffer) => (bytes += chunk.length));
      measured.set(
        entry.path,
        new Promise((resolve, reject) => {
          gzip.on("end", () => resolve([bytes, compressed]));
          gzip.on("error", reject);
        }),
      );
      entry.pipe(gzip);
    },
  });
  const save = execa("docker", ["save", image], { buffer: false });
  await pipeline(save.stdout!, parser);
  await save;
  const [manifest] = JSON.parse(documents.get("manifest.json")!.toString()) as { Config: string; Layers: string[] }[];
  const config = JSON.parse(documents.get(manifest!.Config)!.toString()) as { history: { created_by?: string; empty_layer?: boolean }[] };
  const steps = config.history.filter((step) => !step.empty_layer).map((step) => (step.created_by ?? "").replace(/\s+/g, " "));
  return Promise.all(
    manifest!.Layers.map(async (layer, i) => {
      const [bytes, compressed] = await measured.get(links.get(layer) ?? layer)!;
      return { bytes, compressed, createdBy: steps[i] ?? "" };
    }),
  );
}

/** What a job step's Dockerfile line says, short. */
const step = (createdBy: string) =>
  createdBy
    .replace(/^\/bin\/sh -c (#\(nop\) )?/, "")
    .replace(/ # buildkit$/, "")
    .replace(/^RUN \/bin\/sh -c set -eux; */, "RUN ")
    .slice(0, 70);

async function pullCost(images: Record<string, string>, base: string) {
  say("9. pull cost (docker save, gzip -6)");
  const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
  const baseLayers = await pulledLayers(base);
  const baseBytes = baseLayers.reduce((sum, layer) => sum + layer.bytes, 0);
  const baseCompressed = baseLayers.reduce((sum, layer) => sum + layer.compressed, 0);
  rows.push({
    case: "9. base image pulled",
    a: { label: base, samples: [baseCompressed] },
    goal: "≤ 80 MB uncompressed",
    figure: `${mb(baseCompressed)} compressed, ${mb(baseBytes)} uncompressed`,
    met: baseBytes <= 80e6,
  });
  const goals: Record<string, number> = { python: 1150e6, duckdb: 260e6 };
  const layerLines: string[] = [];
  for (const [kind, image] of Object.entries(images)) {
    const layers = await pulledLayers(image);
    const bytes = layers.reduce((sum, layer) => sum + layer.bytes, 0);
    const compressed = layers.reduce((sum, layer) => sum + layer.compressed, 0);
    rows.push({
      case: `9. ${kind} image pulled`,
      a: { label: image, samples: [compressed] },
      goal: `≤ ${goals[kind]! / 1e6} MB uncompressed`,
      figure: `${mb(compressed)} compressed, ${mb(bytes)} uncompressed`,
      met: bytes <= goals[kind]!,
    });
    layerLines.push(`${kind}:`);
    for (const [i, layer] of layers.entries()) {
      const what = i < baseLayers.length ? "(the base)" : step(layer.createdBy);
      layerLines.push(`  ${mb(layer.compressed).padStart(9)} ${mb(layer.bytes).padStart(9)}  ${what}`);
    }
  }
  say(`layers (compressed, uncompressed):\n${layerLines.join("\n")}`);
  extraReports.push(`Layers (compressed, uncompressed):\n\n\`\`\`\n${layerLines.join("\n")}\n\`\`\``);

  const requested = (await readFile(path.join(root, "images/python/base_requirements.in"), "utf8"))
    .split("\n")
    .map((line) => line.replace(/#.*/, "").trim())
    .filter(Boolean);
  const script = path.join(root, "bench/library_costs.py");
  const result = await execa("docker", [
    "run", "--rm", "--entrypoint", "/opt/venv/bin/python", "-v", `${script}:/bench/library_costs.py:ro`,
    images.python!, "/bench/library_costs.py", ...requested,
  ]);
  const costs = JSON.parse(result.stdout) as {
    rows: { library: string; version: string; bytes: number; compressed: number; only_it_needs: string[]; saved_bytes: number; saved_compressed: number }[];
    all_bytes: number;
    all_compressed: number;
    distributions: number;
  };
  const table = [
    "| library | version | own size | compressed | leaving it out saves | compressed | and drops |",
    "|---|---|---|---|---|---|---|",
    ...costs.rows
      .sort((x, y) => y.saved_bytes - x.saved_bytes)
      .map((r) => `| ${r.library} | ${r.version} | ${mb(r.bytes)} | ${mb(r.compressed)} | ${mb(r.saved_bytes)} | ${mb(r.saved_compressed)} | ${r.only_it_needs.join(", ") || "nothing else"} |`),
    `| all ${costs.distributions} distributions in /opt/venv | | ${mb(costs.all_bytes)} | ${mb(costs.all_compressed)} | | | |`,
  ].join("\n");
  say(`default libraries:\n${table}`);
  extraReports.push(`What each default library costs:\n\n${table}`);
}

// --- Report -------------------------------------------------------------------------

function table(): string {
  const lines = ["| case | measured (median of " + RUNS + ") | goal | met |", "|---|---|---|---|"];
  for (const row of rows) {
    const met = row.met === undefined ? "" : row.met ? "yes" : "no";
    lines.push(`| ${row.case} | ${row.figure} | ${row.goal} | ${met} |`);
  }
  return lines.join("\n");
}

async function main() {
  const started = performance.now();
  const [python, duckdb] = await Promise.all([
    imageFor("python", process.env.EXEC_PYTHON_IMAGE, say),
    imageFor("duckdb", process.env.EXEC_DUCKDB_IMAGE, say),
  ]);
  const base = (await execa(path.join(root, "images/base/bootstrap"), [process.env.BASE_IMAGE ?? ""])).stdout.trim().split("\n").pop()!;
  const cases = [
    () => launcherOverhead(python),
    () => extraction(python),
    () => installs(python),
    () => duckdbAggregate(duckdb),
    () => suite(),
    () => sizes({ python, duckdb }, base),
    () => lockedInstalls(python),
    () => pullCost({ python, duckdb }, base),
  ];
  // BENCH_CASES=2,3 runs only those cases (the install cases 3 and 4 run together).
  const chosen = (process.env.BENCH_CASES ?? "1,2,3,4,5,6,7,8,9").split(",").map(Number);
  const numbers = [[1], [2], [3, 4], [5], [6], [7], [8], [9]];
  for (const [i, run] of cases.entries()) if (numbers[i]!.some((n) => chosen.includes(n))) await run();
  const machine = `${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.arch()}`;
  const date = new Date().toISOString().slice(0, 10);
  const out = process.env.BENCH_JSON ?? path.join(root, "reports", "bench.json");
  await mkdir(path.dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify({ date, machine, runs: RUNS, images: { python, duckdb, base }, rows, reports: extraReports }, null, 2)}\n`);
  console.log(`Measured ${date} on ${machine} (make bench, ${((performance.now() - started) / 60000).toFixed(0)} min).\n`);
  console.log(table());
  for (const report of extraReports) console.log(`\n${report}`);
  say(`raw samples: ${out}`);
}

await main();
