// Starts the contract rig (`python -m tests.clients.rig`, from the repository
// root) and stops it: it prints one JSON line once the fake model and `muxi
// serve` are ready, and stops everything when its stdin closes.
//
// MUXI_PYTHON names the Python (default: <repo>/.venv-dev/bin/python, the
// test command's environment); MUXI_REPO_ROOT the checkout to run it from
// (default: the one this package is in).

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(process.env.MUXI_REPO_ROOT || join(here, "..", "..", ".."));

export function rigPython() {
  return process.env.MUXI_PYTHON || join(REPO_ROOT, ".venv-dev", "bin", "python");
}

/**
 * Starts the rig; resolves to `{info, control(path, body), stop()}` once its JSON line is read.
 * `args`: the rig's options (`["--oauth"]`: with the test OAuth server; `info.oauth` is its URL).
 */
export async function startRig({ startTimeoutMs = 180_000, args = [] } = {}) {
  const python = rigPython();
  if (!existsSync(python)) throw new Error(`no Python at ${python}: set MUXI_PYTHON`);
  const child = spawn(python, ["-m", "tests.clients.rig", ...args], {
    cwd: REPO_ROOT,
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, PYTHONUNBUFFERED: "1" },
  });
  // The rig's stderr (muxi serve's log) is kept, the last part only, for a failure's message.
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d) => {
    stderr = (stderr + d).slice(-20_000);
  });
  const exited = new Promise((resolveExit) => child.once("exit", (code, signal) => resolveExit({ code, signal })));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin.end(); // the rig's signal to stop everything
    const timeout = (ms) => new Promise((r) => setTimeout(() => r("timeout"), ms).unref());
    if ((await Promise.race([exited, timeout(30_000)])) !== "timeout") return;
    child.kill("SIGTERM");
    if ((await Promise.race([exited, timeout(10_000)])) !== "timeout") return;
    child.kill("SIGKILL");
    await exited;
  };
  try {
    const line = await new Promise((resolveLine, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error(`the rig did not start within ${startTimeoutMs} ms`)), startTimeoutMs);
      child.stdout.setEncoding("utf8");
      const onData = (d) => {
        out += d;
        const nl = out.indexOf("\n");
        if (nl >= 0) {
          clearTimeout(timer);
          child.stdout.off("data", onData);
          child.stdout.resume(); // anything after the line is not read, only drained
          resolveLine(out.slice(0, nl));
        }
      };
      child.stdout.on("data", onData);
      child.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`the rig exited (${code ?? signal}) before it was ready`));
      });
    });
    const info = JSON.parse(line);
    const control = async (path, body = {}) => {
      const res = await fetch(`${info.control}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`rig ${path} answered ${res.status}: ${text}`);
      return text ? JSON.parse(text) : {};
    };
    return { info, control, stop, stderr: () => stderr };
  } catch (err) {
    await stop();
    err.message += `\n--- the rig's stderr (end) ---\n${stderr.slice(-4000)}`;
    throw err;
  }
}
