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
