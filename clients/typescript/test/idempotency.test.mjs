// Turn starts carry an idempotency key (`Idempotency-Key` on `POST /v1/chat`):
// a fresh one per turn, the same on the client's own retries of that start, so
// a server that took a start whose answer was lost runs the turn once. Against
// a scripted HTTP server on loopback that records each request's key.

import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, beforeEach, test } from "node:test";
import { MuxiClient, TurnStarting } from "../dist/index.js";
import { turnKey } from "../dist/ws.js";

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

// The stand-in's Muxi-Api-Version (null: none, a 1.0 server); keys are kept since 1.2.
let version = "1.1";
// Its answer to GET /v1/me, which tells the client the server's version.
const me = { status: 200, body: "{}" };
// The server read the start and the connection broke before any answer.
const cut = { status: 0 };
// A proxy in front of the server answered for it (not muxi's own error body).
const gateway = { status: 502, headers: { "content-type": "text/html" }, body: "<html>bad gateway</html>" };

before(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      seen.push({ path: req.url, key: req.headers["idempotency-key"] });
      const answer = script.shift() ?? done;
      if (answer === cut) return void req.socket.destroy(); // read, then lost: no answer at all
      const named = version ? { "muxi-api-version": version } : {};
      res.writeHead(answer.status, { "content-type": "application/json", ...named, ...answer.headers });
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
  version = "1.1";
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

test("a start lost before any answer is sent again with its key, a bounded number of times", async () => {
  version = "1.2"; // a server that keeps keys, as its first answer says
  const client = new MuxiClient({ url, apiKey: "muxi_k" });
  script = [me, cut, gateway, done];
  await client.me();
  seen = [];
  assert.equal((await (await client.chat("hi")).result()).reply, "ok");
  assert.equal(seen.length, 3);
  assert.equal(new Set(seen.map((r) => r.key)).size, 1, "every try repeats the start's key");
  // Bounded: the first try and three more, then the loss is the caller's to see.
  seen = [];
  script = [cut, cut, cut, cut, done];
  await assert.rejects(client.chat("again"), (err) => err.code === "connection_failed");
  assert.equal(seen.length, 4);
  // muxi's own refusal is its word: not repeated.
  seen = [];
  script = [{ status: 503, body: JSON.stringify({ error: { code: "busy", message: "busy" } }) }];
  await assert.rejects(client.chat("busy"), (err) => err.code === "busy");
  assert.equal(seen.length, 1);
  await client.close();
});

for (const old of [null, "1.1"]) {
  test(`a start lost on its way is not sent again to a server without keys (${old ?? "no version"})`, async () => {
    // Such a server ignores the key: a start it may have read would run twice.
    version = old;
    const client = new MuxiClient({ url, apiKey: "muxi_k" });
    for (const lost of [cut, gateway]) {
      script = [me, lost, done];
      seen = [];
      await client.me();
      await assert.rejects(client.chat("hi"));
      assert.deepEqual(seen.map((r) => r.path), ["/v1/me", "/v1/chat"], JSON.stringify(lost));
    }
    await client.close();
  });
}

test("a start refused before anything went is sent again to any server", async () => {
  // Nothing listens on the port at first: no server read the start.
  const probe = createServer();
  await new Promise((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const port = probe.address().port;
  await new Promise((resolve) => probe.close(resolve));
  let tries = 0;
  const fetchLate = async (input, init) => {
    if (tries++ === 0) return fetch(String(input).replace(url, `http://127.0.0.1:${port}`), init);
    return fetch(input, init);
  };
  version = null;
  const client = new MuxiClient({ url, apiKey: "muxi_k", fetch: fetchLate });
  script = [done];
  assert.equal((await (await client.chat("hi")).result()).reply, "ok");
  assert.equal(tries, 2);
  assert.equal(seen.length, 1);
  await client.close();
});

test("a start the server still holds (409 turn_starting) is sent again with its key, bounded", async () => {
  const starting = {
    status: 409,
    headers: { "retry-after": "0" },
    body: JSON.stringify({ error: { code: "turn_starting", message: "still starting" } }),
  };
  const client = new MuxiClient({ url, apiKey: "muxi_k" });
  script = [starting, starting, done];
  assert.equal((await (await client.chat("hi")).result()).reply, "ok");
  assert.equal(seen.length, 3);
  assert.equal(new Set(seen.map((r) => r.key)).size, 1, "every try repeats the start's key");
  seen = [];
  script = [starting, starting, starting, starting, starting];
  await assert.rejects(client.chat("again"), (err) => err instanceof TurnStarting && err.status === 409);
  assert.equal(seen.length, 4, "the first try and three more");
  // "Events no longer kept" is not worth a retry.
  seen = [];
  script = [{ status: 409, body: JSON.stringify({ error: { code: "idempotency_conflict", message: "gone" } }) }];
  await assert.rejects(client.chat("gone"), (err) => err.code === "idempotency_conflict");
  assert.equal(seen.length, 1);
  await client.close();
});

test("turnKey takes getRandomValues when randomUUID is missing (a page on plain http)", () => {
  const real = Object.getOwnPropertyDescriptor(globalThis, "crypto");
  let asked = 0;
  const getRandomValues = (a) => {
    asked++;
    return globalThis.__realCrypto.getRandomValues(a);
  };
  globalThis.__realCrypto = globalThis.crypto;
  Object.defineProperty(globalThis, "crypto", { value: { getRandomValues }, configurable: true });
  try {
    const [a, b] = [turnKey(), turnKey()];
    assert.equal(asked, 2);
    assert.match(a, /^[0-9a-f]{32}$/);
    assert.notEqual(a, b);
  } finally {
    Object.defineProperty(globalThis, "crypto", real);
    delete globalThis.__realCrypto;
  }
});
