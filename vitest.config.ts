import { configDefaults, defineConfig } from "vitest/config";

// testcontainers' reaper (Ryuk) is pulled from a registry, which job-image
// builds must not need; the suite removes its own containers instead.
process.env.TESTCONTAINERS_RYUK_DISABLED ??= "true";

export default defineConfig({
  test: {
    include: ["conformance/**/*.test.ts"],
    // Jobs through Bacalhau need its nodes: make orchestrator-test runs those.
    exclude: [...configDefaults.exclude, "conformance/orchestrator/**"],
    globalSetup: ["conformance/support/global-setup.ts"],
    setupFiles: ["conformance/support/setup.ts"],
    // Containers take seconds, not milliseconds; the harness has its own hang detector.
    testTimeout: 180_000,
    hookTimeout: 60_000,
    // Run test files, and the tests in each file, side by side: four files at a time,
    // five tests each, keep two cores busy while jobs wait on the engine, an index or a
    // signal. The longest files start first (by the last run's durations, else by size),
    // and the longest tests come first in their files.
    pool: "forks",
    maxWorkers: 4,
    minWorkers: 1,
    maxConcurrency: 5,
    sequence: { concurrent: true },
    reporters: process.env.CI ? ["default", "junit"] : ["default"],
    outputFile: { junit: "reports/conformance.junit.xml" },
  },
});
