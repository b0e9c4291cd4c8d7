// The engine as testcontainers finds it (DOCKER_HOST or the default socket),
// and the few raw calls a job runner needs beyond testcontainers itself.
import { getContainerRuntimeClient } from "testcontainers";

/** Labels put on every container the suite starts; their values name the run and the test file. */
export const RUN_LABEL = "org.exec-images.conformance-run";
export const FILE_LABEL = "org.exec-images.conformance-file";

export async function dockerode() {
  return (await getContainerRuntimeClient()).container.dockerode;
}

/** Remove every container whose label has this value; returns how many there were. */
export async function removeContainers(label: string, value: string): Promise<number> {
  const docker = await dockerode();
  const containers = await docker.listContainers({ all: true, filters: { label: [`${label}=${value}`] } });
  await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true })));
  return containers.length;
}

/** Split the engine's multiplexed log stream (8-byte frame headers) into stdout and stderr. */
export function demux(log: Buffer): { stdout: Buffer; stderr: Buffer } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= log.length) {
    const size = log.readUInt32BE(offset + 4);
    const frame = log.subarray(offset + 8, offset + 8 + size);
    (log[offset] === 2 ? err : out).push(frame);
    offset += 8 + size;
  }
  return { stdout: Buffer.concat(out), stderr: Buffer.concat(err) };
}
