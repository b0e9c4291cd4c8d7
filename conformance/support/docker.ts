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

/** Remove every volume whose label has this value (once the containers using it are gone). */
export async function removeVolumes(label: string, value: string): Promise<void> {
  const docker = await dockerode();
  const { Volumes } = await docker.listVolumes({ filters: { label: [`${label}=${value}`] } });
  await Promise.all((Volumes ?? []).map((volume) => docker.getVolume(volume.Name).remove()));
}

/** Read the engine's multiplexed stream of an attached container (frames with an 8-byte
 * header: the stream, 1 for stdout or 2 for stderr, and the size) as it arrives, handing
 * each frame's bytes to `frame`. Resolves when the stream ends. */
export function demux(stream: NodeJS.ReadableStream, frame: (fd: 1 | 2, bytes: Buffer) => void): Promise<void> {
  let pending: Buffer = Buffer.alloc(0);
  return new Promise((resolve, reject) => {
    stream.on("data", (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      let offset = 0;
      while (offset + 8 <= pending.length) {
        const size = pending.readUInt32BE(offset + 4);
        if (offset + 8 + size > pending.length) break;
        frame(pending[offset] === 2 ? 2 : 1, pending.subarray(offset + 8, offset + 8 + size));
        offset += 8 + size;
      }
      pending = pending.subarray(offset);
    });
    stream.on("error", reject);
    stream.on("end", resolve);
    stream.on("close", resolve);
  });
}
