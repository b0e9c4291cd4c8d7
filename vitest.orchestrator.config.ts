import { configDefaults, defineConfig } from "vitest/config";
import base from "./vitest.config.js";

// The orchestrator conformance files (make orchestrator-test): jobs submitted through
// Bacalhau, against nodes that conformance/support/orchestrator-setup.ts starts.
// Otherwise as the suite's own configuration.
export default defineConfig({
  test: {
    ...base.test,
    include: ["conformance/orchestrator/**/*.test.ts"],
    exclude: configDefaults.exclude,
    globalSetup: ["conformance/support/orchestrator-setup.ts"],
    setupFiles: [],
    testTimeout: 300_000,
    outputFile: { junit: "reports/orchestrator.junit.xml" },
  },
});
