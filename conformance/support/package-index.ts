// A PEP 503 "simple" package index on loopback, serving the fixture
// distributions, so that no test reaches a public index. Jobs reach it with
// host networking at http://127.0.0.1:PORT/simple/.
import { createHash } from "node:crypto";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { createServer as createHttpServer, type RequestListener, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { type AddressInfo, createServer as createNetServer, type Socket } from "node:net";
import path from "node:path";
import { execa } from "execa";
import { fixturesDir, tempDir } from "./fixtures.js";


export interface PackageIndex {
  /** The index URL, for PIP_INDEX_URL. */
  url: string;
  /** Paths requested so far, for asserting what an installer fetched. */
  requests: string[];
  close(): Promise<void>;
}

const normalize = (name: string) => name.toLowerCase().replace(/[-_.]+/g, "-");

/** The project a distribution file belongs to, from its name. */
function projectOf(file: string): string {
  const stem = file.endsWith(".whl") ? file.split("-")[0]! : file.replace(/-[^-]+\.tar\.gz$/, "");
  return normalize(stem);
}

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

export interface IndexOptions {
  /** Serve over HTTPS with this key and certificate. */
  tls?: { key: string; cert: string };
  /** Hold every response this long before answering (a slow index). */
  delayMs?: number;
  /** Folders of further distributions to serve (a file there replaces one of the same name). */
  extraDirs?: string[];
  /** Files left out, as if they had not been released yet. */
  hide?: string[];
}

/** Make the fixture distributions, then serve them beside the committed build back ends. */
export async function startPackageIndex({ tls, delayMs = 0, extraDirs = [], hide = [] }: IndexOptions = {}): Promise<PackageIndex> {
  const made = await tempDir();
  await execa("python3", [path.join(fixturesDir, "make_dists.py"), made]);
  const files = new Map<string, Buffer>();
  for (const dir of [made, path.join(fixturesDir, "backends"), ...extraDirs]) {
    for (const name of await readdir(dir)) {
      if ((name.endsWith(".whl") || name.endsWith(".tar.gz")) && !hide.includes(name)) files.set(name, await readFile(path.join(dir, name)));
    }
  }
  const projects = new Map<string, string[]>();
  for (const name of files.keys()) projects.set(projectOf(name), [...(projects.get(projectOf(name)) ?? []), name]);

  const requests: string[] = [];
  const answer: RequestListener = (request, response) => {
    const url = request.url ?? "/";
    requests.push(url);
    const page = (body: string) => {
      response.writeHead(200, { "content-type": "text/html" });
      response.end(`<!DOCTYPE html><html><body>\n${body}</body></html>\n`);
    };
    const project = url.match(/^\/simple\/([^/]+)\/?$/)?.[1];
    const file = url.match(/^\/files\/([^/?#]+)$/)?.[1];
    if (url === "/simple/" || url === "/simple") {
      page([...projects.keys()].map((p) => `<a href="/simple/${p}/">${p}</a><br>\n`).join(""));
    } else if (project && projects.has(normalize(project))) {
      const links = projects.get(normalize(project))!.map((name) => {
        const digest = createHash("sha256").update(files.get(name)!).digest("hex");
        return `<a href="/files/${name}#sha256=${digest}">${name}</a><br>\n`;
      });
      page(links.join(""));
    } else if (file && files.has(file)) {
      response.writeHead(200, { "content-type": "application/octet-stream" });
      response.end(files.get(file));
    } else {
      response.writeHead(404).end("not found\n");
    }
  };
  const handle: RequestListener = (request, response) => {
    if (delayMs) setTimeout(() => answer(request, response), delayMs);
    else answer(request, response);
  };
  const server: Server = tls ? createHttpsServer(tls, handle) : createHttpServer(handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls ? "https" : "http"}://127.0.0.1:${port}/simple/`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** An index that accepts connections and never answers. */
export async function startSilentIndex(): Promise<PackageIndex> {
  const sockets = new Set<Socket>();
  const requests: string[] = [];
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.once("data", (data) => requests.push(data.toString().split(" ")[1] ?? ""));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/simple/`,
    requests,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
