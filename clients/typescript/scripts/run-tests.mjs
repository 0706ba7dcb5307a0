#!/usr/bin/env node
// `npm test`: Node's built-in test runner on test/*.test.mjs. Node 20 has a
// global WebSocket only behind --experimental-websocket (the WebSocket turns
// need it); Node 22 has it by default, and a later Node may not know the flag,
// so it is passed only where it is needed. Extra arguments go to the runner
// (`npm test -- --test-name-pattern=sse`).

import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL("../test/", import.meta.url));
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".test.mjs"))
  .sort()
  .map((f) => join(dir, f));
const flags = typeof globalThis.WebSocket === "function" ? [] : ["--experimental-websocket"];
const child = spawn(process.execPath, [...flags, "--test", ...process.argv.slice(2), ...files], { stdio: "inherit" });
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
