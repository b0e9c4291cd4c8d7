// The run's package indexes, as a test takes them: one service for the whole run
// (package-index.ts, started by global-setup.ts), a URL of its own for each index a
// test takes, so that what its jobs requested can be asked for.
import { randomUUID } from "node:crypto";
import { inject } from "vitest";
import type { IndexService, IndexUrl, Variant } from "./package-index.js";

export { type IndexUrl, SLOW_INDEX_DELAY_MS, type Variant } from "./package-index.js";

declare module "vitest" {
  export interface ProvidedContext {
    packageIndexes: IndexService;
  }
}

/** One index of the run's service: a URL of its own, and the paths requested under it. */
export interface ServedIndex extends IndexUrl {
  /** Paths requested under this URL's root so far, such as /simple/greeting/, in order. */
  requests(): Promise<string[]>;
}

/** A package index of the run's service, at a URL of its own (over HTTPS with tls). */
export function packageIndex(variant: Variant = "fixtures", { tls = false } = {}): ServedIndex {
  const service = inject("packageIndexes");
  return served(`${tls ? service.https : service.http}${variant}/`);
}

/** An index of the run's service that accepts connections and never answers, at a URL of its own. */
export const silentIndex = (): ServedIndex => served(inject("packageIndexes").silent);

/** The CA certificate of the run's HTTPS index, to give a job as PIP_CERT or SSL_CERT_FILE. */
export const packageIndexCa = (): string => inject("packageIndexes").ca;

/** Nothing listens here: connections to it are refused at once. */
export const refusingIndex: IndexUrl = { url: "http://127.0.0.1:9/simple/" };

/** An index at a URL of its own under root: the service notes what is requested under it. */
function served(root: string): ServedIndex {
  const token = randomUUID();
  return {
    url: `${root}${token}/simple/`,
    async requests() {
      const response = await fetch(`${inject("packageIndexes").http}requests/${token}`);
      return (await response.json()) as string[];
    },
  };
}
