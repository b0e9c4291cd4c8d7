// Test-time fixtures: temporary folders and code bundles.
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { create as createTar } from "tar";
import { execa } from "execa";
import tmp from "tmp";

export const fixturesDir = path.resolve(import.meta.dirname, "../fixtures");

tmp.setGracefulCleanup();

/** A fresh temporary folder, removed when the test process exits. */
export function tempDir(): Promise<string> {
  return new Promise((resolve, reject) =>
    tmp.dir({ unsafeCleanup: true }, (error, name) => (error ? reject(error) : resolve(name))),
  );
}

/** Write files (relative path to content) under root, making folders as needed. */
export async function writeFiles(root: string, files: Record<string, string | Buffer>, mode = 0o644): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(root, name);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content, { mode });
  }
}

/** Write files (relative path to content) into a fresh folder and return it. */
export async function tree(files: Record<string, string | Buffer>): Promise<string> {
  const root = await tempDir();
  await writeFiles(root, files);
  return root;
}

/** A gzip-compressed tar of the given files, as `tar czf bundle.tgz .` makes it;
 * the files named in executable get mode 755. */
export async function tgz(files: Record<string, string | Buffer>, executable: string[] = []): Promise<Buffer> {
  const root = await tree(files);
  await Promise.all(executable.map((name) => chmod(path.join(root, name), 0o755)));
  const out = path.join(await tempDir(), "bundle.tgz");
  await createTar({ cwd: root, gzip: true, portable: true, file: out }, ["."]);
  return readFile(out);
}

const scenarios = new Map<string, Promise<Buffer>>();

/** The bundle of one scenario of fixtures/make_bundle.py (hostile ones included): a gzip'd
 * tar unless the scenario says otherwise (zip-*, *.tar, *.tbz2, *.txz). Made once, then shared. */
export function scenarioBundle(scenario: string): Promise<Buffer> {
  if (!scenarios.has(scenario)) scenarios.set(scenario, makeScenario(scenario));
  return scenarios.get(scenario)!;
}

/** What the launcher says of each refused scenario of make_bundle.py (its REFUSALS), after the
 * bundle's path, as a lookup: the unit tests read the same. A scenario in another format
 * (absolute.txz) has the line of its name without the suffix. */
export async function scenarioRefusals(): Promise<(scenario: string) => string> {
  const { stdout } = await execa("python3", [path.join(fixturesDir, "make_bundle.py"), "--refusals"]);
  const lines: Record<string, string> = JSON.parse(stdout);
  return (scenario) => {
    const line = lines[scenario.replace(/\.(tar|tbz2|txz)$/, "")];
    if (line === undefined) throw new Error(`make_bundle.py has no refusal for ${scenario}`);
    return line;
  };
}

async function makeScenario(scenario: string): Promise<Buffer> {
  const out = path.join(await tempDir(), "bundle");
  await execa("python3", [path.join(fixturesDir, "make_bundle.py"), scenario, out]);
  return readFile(out);
}
