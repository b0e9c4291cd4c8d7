// Runs in every test file: when the file is done, remove any container that a
// failed or timed-out test left behind. (Per file, not per test: tests in a
// file run side by side.)
import { afterAll } from "vitest";
import { removeLeftoverJobs } from "./job.js";

afterAll(async () => {
  await removeLeftoverJobs();
});
