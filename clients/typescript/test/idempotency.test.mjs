// Turn starts carry an idempotency key (`Idempotency-Key` on `POST /v1/chat`):
// a fresh one per turn, the same on the client's own retries of that start, so
// a server that took a start whose answer was lost runs the turn once. Against
// a scripted HTTP server on loopback that records each request's key.

import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, beforeEach, test } from "node:test";
import { MuxiClient } from "../dist/index.js";

let script = [];
let seen = [];
let server;
let url;

const draining = { status: 503, body: JSON.stringify({ error: { code: "shutting_down", message: "draining" } }) };
const done = {
  status: 200,
  headers: { "content-type": "text/event-stream", "x-muxi-run-id": "r", "x-muxi-session-id": "s" },
  body: 'id: 1\ndata: {"v":2,"type":"run.completed","run_id":"r","session_id":"s","ts":"t","text":"ok"}\n\n',
};

before(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      seen.push({ path: req.url, key: req.headers["idempotency-key"] });
      const answer = script.shift() ?? done;
      res.writeHead(answer.status, { "content-type": "application/json", "muxi-api-version": "1.1", ...answer.headers });
      res.end(answer.body);
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${server.address().port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  script = [];
  seen = [];
});

test("each turn start sends a fresh Idempotency-Key, and its retries the same one", async () => {
  const client = new MuxiClient({ url, apiKey: "muxi_k" });
  script = [draining, done, done];
  assert.equal((await (await client.chat("hi")).result()).reply, "ok");
  assert.equal((await (await client.chat("again")).result()).reply, "ok");
  assert.deepEqual(seen.map((r) => r.path), ["/v1/chat", "/v1/chat", "/v1/chat"]);
  const [first, retry, next] = seen.map((r) => r.key);
  assert.match(first, /^[!-~]{16,128}$/);
  assert.equal(retry, first, "the retry of a start repeats its key");
  assert.notEqual(next, first, "another turn has a key of its own");
});
