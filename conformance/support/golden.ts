// Golden outputs: expected bytes kept in conformance/<image>/golden/NAME.
// UPDATE_GOLDEN=1 rewrites them from what the image printed (review the diff).
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { expect } from "vitest";

export async function expectGolden(dir: string, name: string, actual: Buffer | string): Promise<void> {
  const file = path.join(dir, "golden", name);
  if (process.env.UPDATE_GOLDEN) {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, actual);
  }
  const expected = await readFile(file).catch(() => {
    throw new Error(`no golden file ${file}; run with UPDATE_GOLDEN=1 to make it, then review it`);
  });
  expect(Buffer.from(actual).toString("utf8")).toBe(expected.toString("utf8"));
}
