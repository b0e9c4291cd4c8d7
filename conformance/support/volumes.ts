// A small tmpfs volume, for a nearly full /outputs. The engine mounts a tmpfs volume
// afresh for each container that uses it, so a holder container keeps it mounted
// while jobs come and go, and reads it for the tests.
import { randomUUID } from "node:crypto";
import type { StartedTestContainer } from "testcontainers";
import { inject } from "vitest";
import { dockerode, RUN_LABEL } from "./docker.js";
import { pythonImage } from "./images.js";
import { suiteContainer } from "./job.js";

export interface SmallVolume {
  /** The volume's name, to mount with `withBindMounts([{ source: name, target }])`. */
  name: string;
  /** Run a shell command in the holder, where the volume is mounted at /volume. */
  sh(script: string): Promise<string>;
  remove(): Promise<void>;
}

export async function smallVolume(bytes: number): Promise<SmallVolume> {
  const docker = await dockerode();
  const name = `conformance-${randomUUID()}`;
  await docker.createVolume({
    Name: name,
    Driver: "local",
    DriverOpts: { type: "tmpfs", device: "tmpfs", o: `size=${bytes},mode=1777` },
    Labels: { [RUN_LABEL]: inject("runLabel") },
  });
  let holder: StartedTestContainer | undefined;
  try {
    holder = await suiteContainer(pythonImage())
      .withEntrypoint(["sleep", "infinity"])
      .withBindMounts([{ source: name, target: "/volume" }])
      .start();
  } catch (error) {
    await docker.getVolume(name).remove();
    throw error;
  }
  const started = holder;
  return {
    name,
    async sh(script) {
      const result = await started.exec(["sh", "-c", script]);
      if (result.exitCode !== 0) throw new Error(`${script}: exit ${result.exitCode}: ${result.output}`);
      return result.output;
    },
    async remove() {
      await started.stop({ remove: true, timeout: 0 });
      await docker.getVolume(name).remove();
    },
  };
}
