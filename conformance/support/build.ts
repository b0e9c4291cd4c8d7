// The job images, built from this repository with scripts/build-image, or named
// prebuilt ones (checked to be in the engine). Used by the suite and by make bench.
import path from "node:path";
import { execa } from "execa";

const root = path.resolve(import.meta.dirname, "../..");

/** The image to use for kind: prebuilt when named, else built (a no-op when it is current). */
export async function imageFor(
  kind: "python" | "duckdb",
  prebuilt: string | undefined,
  log: (message: string) => void,
): Promise<string> {
  if (prebuilt) {
    await execa("docker", ["image", "inspect", prebuilt], { stdout: "ignore" }).catch(() => {
      throw new Error(`prebuilt image ${prebuilt} is not in the engine; build or pull it first`);
    });
    log(`using prebuilt ${prebuilt}`);
    return prebuilt;
  }
  const started = performance.now();
  const build = await execa(path.join(root, "scripts/build-image"), [kind], { all: true, reject: false });
  if (build.exitCode !== 0) {
    const tail = build.all.split("\n").slice(-30).join("\n");
    throw new Error(`building the ${kind} image failed (exit ${build.exitCode}):\n${tail}`);
  }
  const image = build.stdout.trim().split("\n").pop() ?? "";
  log(`built ${image} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return image;
}
