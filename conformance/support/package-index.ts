// PEP 503 "simple" package indexes on loopback, serving the fixture distributions, so
// that no test reaches a public index. Jobs reach them with host networking.
//
// The suite runs one index service for the whole run (started by global-setup.ts; tests
// take its indexes with indexes.ts): it serves each variant below over HTTP, and over
// HTTPS with a certificate of a CA of its own, as a TLS-intercepting proxy would
// present; and a silent index, which accepts connections and never answers. Under each,
// a URL of its own per test (/VARIANT/TOKEN/simple/), so that what a job requested under
// it can be asked for (/requests/TOKEN). startPackageIndex serves the fixtures on a port
// of its own (make bench).
import { createHash } from "node:crypto";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { createServer as createHttpServer, type RequestListener, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { type AddressInfo, createServer as createNetServer, type Socket } from "node:net";
import path from "node:path";
import { execa } from "execa";
import { fixturesDir, tempDir } from "./fixtures.js";

/** Where the run's index service answers, as global-setup.ts provides it to the tests. */
export interface IndexService {
  /** http://127.0.0.1:PORT/, under which each variant has its folder. */
  http: string;
  /** The same over HTTPS, with a certificate for 127.0.0.1 signed by ca. */
  https: string;
  /** The CA certificate (PEM) of the HTTPS index. */
  ca: string;
  /** http://127.0.0.1:PORT/ of an index that accepts connections and never answers. */
  silent: string;
}

/** What each variant serves: the distributions of make_dists.py and the build back ends, and ... */
const VARIANTS = {
  /** ... nothing else. */
  fixtures: {},
  /** ... greeting 2.0.0 left out, as before it was released (to lock against). */
  "before-greeting-2": { hide: ["greeting-2.0.0-py3-none-any.whl"] },
  /** ... greeting 1.0.0 replaced by other contents under the same name (make_dists.py --tampered). */
  tampered: { extra: "--tampered" },
  /** ... releases of the image's default libraries (make_dists.py --decoys). */
  decoys: { extra: "--decoys" },
  /** ... every answer held for SLOW_INDEX_DELAY_MS first. */
  slow: { slow: true },
} as const;
export type Variant = keyof typeof VARIANTS;

/** How long the slow variant holds each answer. */
export const SLOW_INDEX_DELAY_MS = 2000;

/** An index URL, for PIP_INDEX_URL. */
export interface IndexUrl {
  url: string;
}

const normalize = (name: string) => name.toLowerCase().replace(/[-_.]+/g, "-");

/** The project a distribution file belongs to, from its name. */
function projectOf(file: string): string {
  const stem = file.endsWith(".whl") ? file.split("-")[0]! : file.replace(/-[^-]+\.tar\.gz$/, "");
  return normalize(stem);
}

/** A folder of the distributions make_dists.py makes (with flag: --tampered, --decoys). */
async function made(flag?: string): Promise<string> {
  const dir = await tempDir();
  await execa("python3", [path.join(fixturesDir, "make_dists.py"), dir, ...(flag ? [flag] : [])]);
  return dir;
}

const backends = path.join(fixturesDir, "backends");

/** The distributions in dirs by file name (a later folder's file replaces an earlier one's), less the hidden ones. */
async function distributions(dirs: string[], hide: readonly string[] = []): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const dir of dirs) {
    for (const name of await readdir(dir)) {
      if ((name.endsWith(".whl") || name.endsWith(".tar.gz")) && !hide.includes(name)) files.set(name, await readFile(path.join(dir, name)));
    }
  }
  return files;
}

/** Answer a request for url (a path under the index's root, which is at prefix) from files. */
function answer(files: Map<string, Buffer>, prefix: string, url: string, response: ServerResponse): void {
  const projects = new Map<string, string[]>();
  for (const name of files.keys()) projects.set(projectOf(name), [...(projects.get(projectOf(name)) ?? []), name]);
  const page = (body: string) => {
    response.writeHead(200, { "content-type": "text/html" });
    response.end(`<!DOCTYPE html><html><body>\n${body}</body></html>\n`);
  };
  const project = url.match(/^\/simple\/([^/]+)\/?$/)?.[1];
  const file = url.match(/^\/files\/([^/?#]+)$/)?.[1];
  if (url === "/simple/" || url === "/simple") {
    page([...projects.keys()].map((p) => `<a href="${prefix}/simple/${p}/">${p}</a><br>\n`).join(""));
  } else if (project && projects.has(normalize(project))) {
    const links = projects.get(normalize(project))!.map((name) => {
      const digest = createHash("sha256").update(files.get(name)!).digest("hex");
      return `<a href="${prefix}/files/${name}#sha256=${digest}">${name}</a><br>\n`;
    });
    page(links.join(""));
  } else if (file && files.has(file)) {
    response.writeHead(200, { "content-type": "application/octet-stream" });
    response.end(files.get(file));
  } else {
    response.writeHead(404).end("not found\n");
  }
}

type Listener = Server | ReturnType<typeof createNetServer>;

/** Listen on a free loopback port; returns the port. */
async function listen(server: Listener): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

const close = (server: Listener) => new Promise<void>((resolve) => server.close(() => resolve()));

/** What a TLS-intercepting proxy presents: a CA of its own, and a certificate for
 * 127.0.0.1 signed by it (made with openssl). */
export async function proxyCertificates(): Promise<{ ca: string; key: string; cert: string }> {
  const dir = await tempDir();
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execa("openssl", args, { cwd: dir });
  await openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=conformance proxy CA",
    "-keyout", "ca.key", "-out", "ca.pem");
  await openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "key.pem", "-out", "req.pem");
  await writeFile(file("ext.cnf"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n");
  await openssl("x509", "-req", "-in", "req.pem", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1",
    "-extfile", "ext.cnf", "-out", "cert.pem");
  const [ca, key, cert] = await Promise.all(["ca.pem", "key.pem", "cert.pem"].map((name) => readFile(file(name), "utf8")));
  return { ca: ca!, key: key!, cert: cert! };
}

/** A server that accepts connections and never answers; each request it is sent is noted
 * under the token its path starts with. */
function silentServer(requested: Map<string, string[]>) {
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.once("data", (data) => {
      const [, token, rest] = data.toString("latin1").match(/^[A-Z]+ \/([^/ ]+)(\/\S*)/) ?? [];
      if (token) requested.set(token, [...(requested.get(token) ?? []), rest!]);
    });
  });
  return { server, drop: () => sockets.forEach((socket) => socket.destroy()) };
}

/** Start the run's index service: every variant over HTTP and HTTPS, and a silent index.
 * Returns where it answers, and how to stop it. */
export async function startIndexService(): Promise<{ service: IndexService; close: () => Promise<void> }> {
  const [certificates, fixtures, tampered, decoys] = await Promise.all([proxyCertificates(), made(), made("--tampered"), made("--decoys")]);
  const extra = { "--tampered": [tampered], "--decoys": [decoys] };
  const variants = new Map<string, { files: Map<string, Buffer>; delayMs: number }>();
  for (const [name, variant] of Object.entries(VARIANTS)) {
    const dirs = [fixtures, backends, ...("extra" in variant ? extra[variant.extra] : [])];
    const files = await distributions(dirs, "hide" in variant ? variant.hide : []);
    variants.set(name, { files, delayMs: "slow" in variant ? SLOW_INDEX_DELAY_MS : 0 });
  }
  // Paths requested, by the token of the URL they came under.
  const requested = new Map<string, string[]>();
  const handle: RequestListener = (request, response) => {
    const url = request.url ?? "/";
    const asked = url.match(/^\/requests\/([^/]+)$/)?.[1];
    if (asked) {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify(requested.get(asked) ?? []));
      return;
    }
    const [, variant, token, rest] = url.match(/^\/([^/]+)\/([^/]+)(\/.*)$/) ?? [];
    const served = variant ? variants.get(variant) : undefined;
    if (!served || !token || !rest) {
      response.writeHead(404).end("not found\n");
      return;
    }
    requested.set(token, [...(requested.get(token) ?? []), rest]);
    const reply = () => answer(served.files, `/${variant}/${token}`, rest, response);
    if (served.delayMs) setTimeout(reply, served.delayMs);
    else reply();
  };
  const http = createHttpServer(handle);
  const https = createHttpsServer({ key: certificates.key, cert: certificates.cert }, handle);
  const silent = silentServer(requested);
  const [httpPort, httpsPort, silentPort] = await Promise.all([listen(http), listen(https), listen(silent.server)]);
  return {
    service: {
      http: `http://127.0.0.1:${httpPort}/`,
      https: `https://127.0.0.1:${httpsPort}/`,
      ca: certificates.ca,
      silent: `http://127.0.0.1:${silentPort}/`,
    },
    close: async () => {
      silent.drop();
      await Promise.all([close(http), close(https), close(silent.server)]);
    },
  };
}

/** An index on a port of its own, until closed. */
export interface PackageIndex extends IndexUrl {
  close(): Promise<void>;
}

export interface IndexOptions {
  /** Folders of further distributions to serve (a file there replaces one of the same name). */
  extraDirs?: string[];
}

/** Serve the fixture distributions and the build back ends (and extraDirs) on a port of its
 * own, at http://127.0.0.1:PORT/simple/. */
export async function startPackageIndex({ extraDirs = [] }: IndexOptions = {}): Promise<PackageIndex> {
  const files = await distributions([await made(), backends, ...extraDirs]);
  const server = createHttpServer((request, response) => answer(files, "", request.url ?? "/", response));
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}/simple/`, close: () => close(server) };
}
