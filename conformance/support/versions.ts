// The versions the images are built on, from their one source, images/pythons: read by the
// suite and bench without vitest.
import { readFileSync } from "node:fs";
import path from "node:path";

/** The Python image's version and Debian suite: the first line of images/pythons ("X.Y SUITE GLIBC"). */
const [pythonVersion, debianSuite] = readFileSync(path.resolve(import.meta.dirname, "../../images/pythons"), "utf8")
  .split("\n")
  .find((line) => /^[0-9]/.test(line))!
  .split(/\s+/);
export const PYTHON_VERSION = pythonVersion!;
export const DEBIAN_SUITE = debianSuite!;
/** The Python version without its dot, as in wheel tags (cpXY) and bytecode names. */
export const PYTHON_TAG = PYTHON_VERSION.replace(".", "");
