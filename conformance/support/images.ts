import { readFile } from "node:fs/promises";
import path from "node:path";
import { inject } from "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    pythonImage: string;
    duckdbImage: string;
    runLabel: string;
  }
}

/** The image under test, built once per run by global-setup.ts or named by EXEC_*_IMAGE. */
export const pythonImage = (): string => inject("pythonImage");
export const duckdbImage = (): string => inject("duckdbImage");

/** The DuckDB version pinned in images/duckdb/requirements.txt. */
export async function duckdbVersion(): Promise<string> {
  const requirements = await readFile(path.resolve(import.meta.dirname, "../../images/duckdb/requirements.txt"), "utf8");
  return requirements.match(/^duckdb-cli==(\S+)/m)![1]!;
}

