// A browser run of the built client: a loopback server that serves dist/ and
// a test page, and forwards /v1 (HTTP, SSE and the WebSocket upgrade) to the
// muxi server, so the page calls it from its own origin; headless Chromium
// loads the page, whose script posts what it saw to /result.

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, request as httpRequest } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const dist = fileURLToPath(new URL("../dist/", import.meta.url));

/** The Chromium (or Chrome) on PATH, or null. */
export function findChromium() {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    for (const name of ["chromium", "chromium-browser", "google-chrome"]) {
      if (dir && existsSync(join(dir, name))) return join(dir, name);
    }
  }
  return null;
}

/** Serves `page` at `/` and dist at `/dist/`, forwards `/v1/` to `target`; resolves to {url, result, close}. */
export async function pageServer(target, page) {
  const upstream = new URL(target);
  let deliver;
  const result = new Promise((r) => {
    deliver = r;
  });
  const server = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    if (path === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      return res.end(page);
    }
    if (path === "/favicon.ico") {
      res.writeHead(204);
      return res.end();
    }
    if (path.startsWith("/dist/")) {
      const file = normalize(join(dist, path.slice("/dist/".length)));
      if (!file.startsWith(dist) || !existsSync(file)) {
        res.writeHead(404);
        return res.end();
      }
      const type = extname(file) === ".js" ? "text/javascript" : "application/octet-stream";
      res.writeHead(200, { "content-type": type });
      return res.end(readFileSync(file));
    }
    if (path === "/result" && req.method === "POST") {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        res.writeHead(204);
        res.end();
        deliver(JSON.parse(body));
      });
      return;
    }
    // Everything else goes to the muxi server, streamed both ways.
    const fwd = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    fwd.on("error", () => res.destroy());
    req.pipe(fwd);
  });
  // The WebSocket handshake and its frames: bytes both ways, untouched.
  server.on("upgrade", (req, socket, head) => {
    const up = connect(Number(upstream.port), upstream.hostname, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      up.write(`${lines.join("\r\n")}\r\n\r\n`);
      if (head.length) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    up.on("error", () => socket.destroy());
    socket.on("error", () => up.destroy());
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  const close = () =>
    new Promise((r) => {
      server.closeAllConnections?.();
      server.close(() => r());
    });
  return { url: `http://127.0.0.1:${port}/`, result, close };
}

/** Runs headless Chromium on `url` until `done` settles (or `timeoutMs`); always stops it. */
export async function withChromium(chromium, url, done, timeoutMs = 90_000) {
  const profile = mkdtempSync(join(tmpdir(), "muxi-chromium-"));
  const args = [
    "--headless=new",
    "--no-sandbox", // CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    `--user-data-dir=${profile}`,
    url,
  ];
  const child = spawn(chromium, args, { stdio: ["ignore", "ignore", "pipe"], detached: true });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  let timer;
  try {
    return await Promise.race([
      done,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the page sent no result in ${timeoutMs} ms:\n${stderr}`)), timeoutMs);
      }),
      new Promise((_, reject) => child.once("exit", (code) => reject(new Error(`chromium exited (${code}):\n${stderr}`)))),
    ]);
  } finally {
    clearTimeout(timer);
    // Chromium is a tree of processes: its group goes.
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // gone already
    }
    rmSync(profile, { recursive: true, force: true });
  }
}
