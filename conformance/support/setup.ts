// Runs in every test file: after each test, remove any container of this run
// that a failed or timed-out test left behind.
import { afterEach, inject } from "vitest";
import { removeContainersOf } from "./docker.js";

afterEach(async () => {
  await removeContainersOf(inject("runLabel"));
});
