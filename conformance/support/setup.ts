// Runs before every test file: its containers get a label of their own, and when the
// file is done, any container that a failed or timed-out test left behind is removed.
// (Per file, not per test: tests in a file run side by side.)
import { afterAll } from "vitest";
import { removeLeftoverJobs, startTestFile } from "./job.js";

startTestFile();

afterAll(async () => {
  await removeLeftoverJobs();
});
