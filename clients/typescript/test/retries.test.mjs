// The retry policy (the Python client's, same numbers) against a small scripted
// HTTP server on loopback (node:http): each request takes the next answer of
// the script and is recorded with its arrival time, so the waits between tries
// are measured on the wire. Nothing here sleeps: the only waits are the
// client's own backoff.

import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, beforeEach, test } from "node:test";
import {
  BACKOFF,
  backoff,
  ConnectionFailed,
  MAX_BACKOFF,
  MAX_RETRY_WAIT,
  MuxiClient,
  RateLimited,
  RETRIES,
  RETRY_STATUS,
  retryWait,
  START_RETRIES,
  Unavailable,
} from "../dist/index.js";

/** What the server answers next: `{status, code, headers, body}`, or "drop" (the connection is cut). */
let script = [];
/** Every request: method, path, arrival time (ms). */
let seen = [];
let server;
let url;

const error = (status, code, headers = {}) => ({ status, headers, body: JSON.stringify({ error: { code, message: code } }) });
const ok = (value) => ({ status: 200, body: JSON.stringify(value) });
const SSE_DONE = {
  status: 200,
  headers: { "content-type": "text/event-stream", "x-muxi-run-id": "r", "x-muxi-session-id": "s" },
  body: 'id: 1\ndata: {"v":2,"type":"run.completed","run_id":"r","session_id":"s","ts":"t","text":"ok"}\n\n',
};

before(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      seen.push({ method: req.method, path: req.url, at: performance.now() });
      const answer = script.shift() ?? error(500, "script_exhausted");
      if (answer === "drop") {
        req.socket.destroy();
        return;
      }
      res.writeHead(answer.status, {
        "content-type": "application/json",
        "muxi-api-version": "1.1",
        ...answer.headers,
      });
      res.end(answer.body ?? "");
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

const client = (opts = {}) => new MuxiClient({ url, apiKey: "muxi_k", timeoutMs: 10_000, ...opts });
/** The gaps between consecutive requests, in seconds. */
const gaps = () => seen.slice(1).map((r, i) => (r.at - seen[i].at) / 1000);
/** A measured wait is the intended one, give or take scheduling (never much shorter). */
const near = (got, want, what) => assert.ok(got >= want - 0.05 && got < want + 0.75, `${what}: waited ${got.toFixed(3)} s, meant ${want} s`);

test("the constants are the Python client's", () => {
  assert.equal(RETRIES, 3);
  assert.equal(BACKOFF, 0.25);
  assert.equal(MAX_BACKOFF, 4);
  assert.equal(MAX_RETRY_WAIT, 5);
  assert.equal(START_RETRIES, 6);
  assert.deepEqual([...RETRY_STATUS].sort(), [429, 502, 503, 504]);
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((n) => backoff(n)), [0.25, 0.5, 1, 2, 4, 4]);
  assert.equal(backoff(3, 1), 1); // what the server asked wins
});

test("a GET is tried again on 502, 503 and 504 with doubling backoff, then succeeds", async () => {
  script = [error(502, "bad_gateway"), error(503, "busy"), error(504, "gateway_timeout"), ok([{ name: "assistant" }])];
  assert.deepEqual(await client().agents(), [{ name: "assistant" }]);
  assert.equal(seen.length, 4);
  assert.ok(seen.every((r) => r.method === "GET" && r.path === "/v1/agents"));
  const [a, b, c] = gaps();
  near(a, 0.25, "first wait");
  near(b, 0.5, "second wait");
  near(c, 1, "third wait");
});

test("retries are bounded: RETRIES tries after the first, then the last error", async () => {
  script = Array.from({ length: 6 }, () => error(503, "busy"));
  await assert.rejects(client().me(), (err) => err instanceof Unavailable && err.status === 503);
  assert.equal(seen.length, 1 + RETRIES);
  script = Array.from({ length: 3 }, () => error(503, "busy"));
  seen = [];
  await assert.rejects(client({ retries: 1 }).me(), Unavailable);
  assert.equal(seen.length, 2);
  seen = [];
  await assert.rejects(client({ retries: 0 }).me(), Unavailable);
  assert.equal(seen.length, 1);
});

test("a 429 with a short Retry-After is waited out, then the GET succeeds", async () => {
  script = [error(429, "rate_limited", { "retry-after": "1" }), ok({ key_id: "k1" })];
  assert.deepEqual(await client().me(), { key_id: "k1" });
  assert.equal(seen.length, 2);
  near(gaps()[0], 1, "the Retry-After wait");
});

test("a Retry-After longer than MAX_RETRY_WAIT is thrown at once, with retryAfter", async () => {
  script = [error(429, "rate_limited", { "retry-after": String(MAX_RETRY_WAIT + 1) }), ok({})];
  const t0 = performance.now();
  await assert.rejects(client().me(), (err) => err instanceof RateLimited && err.retryAfter === MAX_RETRY_WAIT + 1);
  assert.equal(seen.length, 1);
  assert.ok(performance.now() - t0 < 1000);
  script = [error(503, "busy", { "retry-after": "30" })];
  seen = [];
  await assert.rejects(client().health(), (err) => err instanceof Unavailable && err.retryAfter === 30);
  assert.equal(seen.length, 1);
});

test("a GET whose connection is cut is tried again; other statuses are not", async () => {
  script = ["drop", ok({ status: "ok" })];
  assert.deepEqual(await client().health(), { status: "ok" });
  assert.equal(seen.length, 2);
  near(gaps()[0], 0.25, "the wait after a cut connection");
  script = [error(500, "internal"), ok({})];
  seen = [];
  await assert.rejects(client().me(), (err) => err.status === 500);
  assert.equal(seen.length, 1);
});

test("requests that change something are never repeated", async () => {
  const c = client();
  const cases = [
    ["POST", () => c.memory.add("a fact"), error(503, "busy")],
    ["POST", () => c.memory.add("a fact"), "drop"],
    ["POST", () => c.memory.add("a fact"), error(429, "rate_limited", { "retry-after": "1" })],
    ["PATCH", () => c.sessions.rename("s1", "t"), error(502, "bad_gateway")],
    ["DELETE", () => c.sessions.delete("s1"), error(503, "shutting_down")],
    ["DELETE", () => c.memory.forget("m1"), "drop"],
    ["POST", () => c.runs.cancel("r1"), error(504, "gateway_timeout")],
  ];
  for (const [method, call, answer] of cases) {
    script = [answer, ok({})];
    seen = [];
    await assert.rejects(call(), (err) => (answer === "drop" ? err instanceof ConnectionFailed : err.status === answer.status));
    assert.deepEqual(
      seen.map((r) => r.method),
      [method],
      `${method} answered ${answer === "drop" ? "with a cut connection" : answer.status}`,
    );
  }
});

test("a turn start refused with 503 shutting_down is tried again; other refusals are not", async () => {
  script = [error(503, "shutting_down", { "retry-after": "1" }), error(503, "shutting_down"), SSE_DONE];
  const result = await (await client().chat("hi")).result();
  assert.equal(result.reply, "ok");
  assert.deepEqual(
    seen.map((r) => `${r.method} ${r.path}`),
    ["POST /v1/chat", "POST /v1/chat", "POST /v1/chat"],
  );
  // The plain backoff, as in Python: the draining server's Retry-After is not waited for.
  const [a, b] = gaps();
  near(a, 0.25, "first wait");
  near(b, 0.5, "second wait");
  for (const answer of [error(503, "busy"), error(429, "rate_limited", { "retry-after": "0" })]) {
    script = [answer, SSE_DONE];
    seen = [];
    await assert.rejects(client().chat("hi"));
    assert.equal(seen.length, 1, JSON.stringify(answer));
  }
  // No answer of muxi's own (a gateway's 502, a dropped connection) from this
  // 1.1 server: it ignores the key, so a start it may have read is not sent
  // again (a 1.2 server's case: idempotency.test.mjs).
  for (const answer of [error(502, "bad_gateway"), "drop"]) {
    script = [answer, SSE_DONE];
    seen = [];
    await assert.rejects(client().chat("hi"));
    assert.equal(seen.length, 1, JSON.stringify(answer));
  }
});

test("retryWait: a turn start is tried again at most START_RETRIES times, whatever `retries` says", () => {
  // The whole series would wait 11.75 s; the decision itself is what matters here.
  const draining = new Unavailable({ status: 503, code: "shutting_down", message: "draining", retryAfter: 1 });
  const waits = Array.from({ length: START_RETRIES + 1 }, (_, n) => retryWait(draining, n, 0, true));
  assert.deepEqual(waits, [0.25, 0.5, 1, 2, 4, 4, null]);
  assert.equal(retryWait(draining, 0, 3, false), 1); // a GET: the server's short wait
  const busy = new Unavailable({ status: 503, code: "busy", message: "busy" });
  assert.equal(retryWait(busy, 0, 0, true), null); // a start: only shutting_down
  assert.equal(retryWait(busy, 2, 3), 1);
  assert.equal(retryWait(busy, 3, 3), null);
});
