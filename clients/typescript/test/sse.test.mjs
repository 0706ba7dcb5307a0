// The SSE parser (WHATWG event-stream rules) and the SSE turn's resume, with
// a scripted `fetch`: no server needed.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MuxiClient, readSSE, SSEParser } from "../dist/index.js";

const parseAll = (chunks) => {
  const p = new SSEParser();
  const out = [];
  for (const c of chunks) out.push(...p.push(c));
  out.push(...p.end());
  return out;
};

const STREAM =
  ": keep-alive\n\nid: 1\ndata: {\"a\":1}\n\nid: 2\nevent: note\ndata: line one\ndata: line two\n\n: comment\ndata:no space\n\n";
const EXPECTED = [
  { event: "message", data: '{"a":1}', id: "1" },
  { event: "note", data: "line one\nline two", id: "2" },
  { event: "message", data: "no space", id: "2" },
];

describe("SSEParser", () => {
  test("a whole stream in one chunk", () => {
    assert.deepEqual(parseAll([STREAM]), EXPECTED);
  });

  test("every split into two chunks gives the same events", () => {
    for (let i = 0; i <= STREAM.length; i++) {
      assert.deepEqual(parseAll([STREAM.slice(0, i), STREAM.slice(i)]), EXPECTED, `split at ${i}`);
    }
  });

  test("one character at a time", () => {
    assert.deepEqual(parseAll([...STREAM]), EXPECTED);
  });

  test("CRLF and lone CR end lines too, even when a CRLF is split across chunks", () => {
    const crlf = STREAM.replaceAll("\n", "\r\n");
    const cr = STREAM.replaceAll("\n", "\r");
    assert.deepEqual(parseAll([crlf]), EXPECTED);
    assert.deepEqual(parseAll([cr]), EXPECTED);
    for (let i = 0; i <= crlf.length; i++) {
      assert.deepEqual(parseAll([crlf.slice(0, i), crlf.slice(i)]), EXPECTED, `CRLF split at ${i}`);
    }
    // A CR at a chunk's end, then the LF: one line end, not an extra blank line.
    assert.deepEqual(parseAll(["data: a\r", "\ndata: b\r\n\r\n"]), [{ event: "message", data: "a\nb", id: "" }]);
  });

  test("comments and keep-alives dispatch nothing", () => {
    assert.deepEqual(parseAll([": keep-alive\n\n:\n\n: x\n"]), []);
  });

  test("multi-line data keeps its empty lines", () => {
    assert.deepEqual(parseAll(["data: a\ndata:\ndata: b\n\n"]), [{ event: "message", data: "a\n\nb", id: "" }]);
  });

  test("only the first space after the colon is dropped", () => {
    assert.deepEqual(parseAll(["data:  two spaces\n\n"]), [{ event: "message", data: " two spaces", id: "" }]);
  });

  test("the id stays until another id changes it; an id with NUL is ignored", () => {
    const events = parseAll(["id: 7\ndata: a\n\ndata: b\n\nid: 8\u0000\ndata: c\n\nid\ndata: d\n\n"]);
    assert.deepEqual(
      events.map((e) => e.id),
      ["7", "7", "7", ""],
    );
  });

  test("an id alone sets the last id without dispatching", () => {
    const p = new SSEParser();
    assert.deepEqual(p.push("id: 5\n\n"), []);
    assert.equal(p.lastEventId, "5");
  });

  test("retry, unknown fields and a field without a colon", () => {
    assert.deepEqual(parseAll(["retry: 1500\nfoo: bar\ndata\n\n"]), [{ event: "message", data: "", id: "", retry: 1500 }]);
    assert.deepEqual(parseAll(["retry: soon\ndata: x\n\n"]), [{ event: "message", data: "x", id: "" }]);
  });

  test("a leading BOM is dropped", () => {
    assert.deepEqual(parseAll(["\ufeffdata: x\n\n"]), [{ event: "message", data: "x", id: "" }]);
  });

  test("an event cut off by the end of the stream is dropped", () => {
    assert.deepEqual(parseAll(["data: whole\n\ndata: {\"half\":"]), [{ event: "message", data: "whole", id: "" }]);
  });
});

function byteStream(chunks) {
  return new ReadableStream({
    start(c) {
      for (const chunk of chunks) c.enqueue(chunk);
      c.close();
    },
  });
}

test("readSSE decodes UTF-8 split inside a character", async () => {
  const bytes = new TextEncoder().encode("id: 1\ndata: héllo ✓\n\n");
  const at = bytes.indexOf(0xe2) + 1; // inside the three bytes of the check mark
  const got = [];
  for await (const m of readSSE(byteStream([bytes.slice(0, 3), bytes.slice(3, at), bytes.slice(at)]))) got.push(m);
  assert.deepEqual(got, [{ event: "message", data: "héllo ✓", id: "1" }]);
});

// ---- the SSE turn, resumed after a break ----

const RUN = "run_1";
const SESSION = "s_1";
const ev = (seq, type, fields = {}) =>
  `id: ${seq}\ndata: ${JSON.stringify({ v: 2, type, run_id: RUN, session_id: SESSION, ts: "t", ...fields })}\n\n`;

/** A `fetch` answering from a list of handlers, recording each request. */
function scripted(handlers) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    const headers = new Headers(init.headers);
    calls.push({ url: String(url), method: init.method ?? "GET", headers, body: init.body });
    const handler = handlers.shift();
    if (!handler) throw new TypeError("fetch failed: no more answers");
    return handler({ url: String(url), headers });
  };
  return { fetch, calls };
}

const sseResponse = (parts, { breakAfter = false } = {}) => {
  const enc = new TextEncoder();
  const queue = [...parts];
  // Pulled one part at a time: an error() would drop parts still queued.
  const body = new ReadableStream({
    pull(c) {
      const part = queue.shift();
      if (part !== undefined) c.enqueue(enc.encode(part));
      else if (breakAfter) c.error(new TypeError("terminated"));
      else c.close();
    },
  });
  return new Response(body, {
    status: 200,
    headers: { "content-type": "text/event-stream", "x-muxi-run-id": RUN, "x-muxi-session-id": SESSION, "muxi-api-version": "1.1" },
  });
};

test("a broken SSE turn is resumed after its last id, without repeating events", async () => {
  const { fetch, calls } = scripted([
    () => sseResponse([ev(1, "run.started", { agent: "a" }), ev(2, "text.delta", { text: "hel" })], { breakAfter: true }),
    () => new Response("", { status: 503, headers: { "retry-after": "0" } }),
    // The resumed stream overlaps (2 again), then goes on to the end.
    () => sseResponse([ev(2, "text.delta", { text: "hel" }), ev(3, "text.delta", { text: "lo" }), ev(4, "run.completed", { text: "hello" })]),
  ]);
  const client = new MuxiClient({ url: "http://muxi.test/", apiKey: "muxi_k", fetch });
  const turn = await client.chat("hi");
  assert.equal(turn.runId, RUN);
  assert.equal(turn.sessionId, SESSION);
  const result = await turn.result();
  assert.deepEqual(
    result.events.map((e) => e.type),
    ["run.started", "text.delta", "text.delta", "run.completed"],
  );
  assert.equal(result.reply, "hello");
  assert.equal(result.status, "completed");
  assert.equal(calls.length, 3);
  assert.equal(calls[0].method, "POST");
  assert.equal(calls[0].url, "http://muxi.test/v1/chat");
  assert.equal(calls[0].headers.get("accept"), "text/event-stream");
  for (const resume of calls.slice(1)) {
    assert.equal(resume.url, `http://muxi.test/v1/runs/${RUN}/events`);
    assert.equal(resume.headers.get("last-event-id"), "2");
  }
  assert.equal(turn.state.resumed, 1);
});

test("a server that sends no ids is not asked to resume: the turn ends with connection_failed", async () => {
  const noIds = (parts) => parts.map((p) => p.replace(/^id: \d+\n/, ""));
  const { fetch, calls } = scripted([
    () => sseResponse(noIds([ev(1, "run.started", { agent: "a" }), ev(2, "text.delta", { text: "x" })]), { breakAfter: true }),
  ]);
  const client = new MuxiClient({ url: "http://muxi.test", apiKey: "muxi_k", fetch });
  const result = await (await client.chat("hi")).result();
  assert.equal(calls.length, 1);
  assert.equal(result.status, "failed");
  assert.equal(result.error.code, "connection_failed");
  assert.equal(result.events.at(-1).type, "run.failed");
});

test("a resume answered 404 gives up at once", async () => {
  const { fetch, calls } = scripted([
    () => sseResponse([ev(1, "run.started", { agent: "a" })], { breakAfter: true }),
    () => new Response(JSON.stringify({ error: { code: "not_found", message: "no such run" } }), { status: 404 }),
  ]);
  const client = new MuxiClient({ url: "http://muxi.test", apiKey: "muxi_k", fetch });
  const result = await (await client.chat("hi")).result();
  assert.equal(calls.length, 2);
  assert.equal(result.error.code, "connection_failed");
  assert.match(result.error.message, /no such run/);
});

test("a delegate's run.completed does not end the turn", async () => {
  const { fetch } = scripted([
    () =>
      sseResponse([
        ev(1, "run.started", { agent: "a" }),
        ev(2, "run.completed", { run_id: "run_child", parent_run_id: RUN, depth: 1, text: "sub" }),
        ev(3, "text.delta", { text: "top" }),
        ev(4, "run.completed", { text: "top" }),
      ]),
  ]);
  const client = new MuxiClient({ url: "http://muxi.test", apiKey: "muxi_k", fetch });
  const turn = await client.chat({ message: "hi" });
  const types = [];
  for await (const e of turn) types.push(e.type);
  assert.deepEqual(types, ["run.started", "run.completed", "text.delta", "run.completed"]);
  assert.equal((await turn.result()).reply, "top");
});

test("aborting the chat's signal closes a started turn: it is cancelled on the server", async () => {
  const enc = new TextEncoder();
  let streamSignal = null;
  const calls = [];
  const fetch = async (url, init = {}) => {
    calls.push(`${init.method ?? "GET"} ${new URL(String(url)).pathname}`);
    if (String(url).endsWith("/cancel")) return new Response(null, { status: 202 });
    streamSignal = init.signal;
    let sent = false;
    const body = new ReadableStream({
      pull(c) {
        if (!sent) {
          sent = true;
          c.enqueue(enc.encode(ev(1, "run.started", { agent: "a" })));
          return;
        }
        // Then nothing, until the request is aborted.
        return new Promise((_, reject) => init.signal.addEventListener("abort", () => reject(init.signal.reason)));
      },
    });
    return new Response(body, { headers: { "x-muxi-run-id": RUN, "x-muxi-session-id": SESSION } });
  };
  const client = new MuxiClient({ url: "http://muxi.test", apiKey: "k", fetch });
  const abort = new AbortController();
  const turn = await client.chat("hi", { signal: abort.signal });
  const seen = [];
  for await (const e of turn) {
    seen.push(e.type);
    abort.abort();
  }
  assert.deepEqual(seen, ["run.started"]);
  assert.ok(streamSignal.aborted);
  assert.ok(turn.ended);
  await turn.close(); // already closing: waits for nothing more, sends nothing more
  for (let i = 0; i < 100 && calls.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(calls, ["POST /v1/chat", `POST /v1/runs/${RUN}/cancel`]);
});

test("a turn closed before its closing event is incomplete: reply so far, no error (as in Python)", async () => {
  const enc = new TextEncoder();
  const fetch = async (url, init = {}) => {
    if (String(url).endsWith("/cancel")) return new Response(null, { status: 202 });
    const parts = [ev(1, "run.started", { agent: "a" }), ev(2, "text.delta", { text: "half a" })];
    const body = new ReadableStream({
      pull(c) {
        const part = parts.shift();
        if (part !== undefined) return c.enqueue(enc.encode(part));
        // Then nothing, until the turn is closed.
        return new Promise((_, reject) => init.signal.addEventListener("abort", () => reject(init.signal.reason)));
      },
    });
    return new Response(body, { headers: { "x-muxi-run-id": RUN, "x-muxi-session-id": SESSION } });
  };
  const client = new MuxiClient({ url: "http://muxi.test", apiKey: "k", fetch });
  const turn = await client.chat("hi");
  for await (const e of turn) if (e.type === "text.delta") break;
  await turn.close();
  const result = await turn.result();
  assert.equal(result.status, "incomplete");
  assert.equal(result.error, null);
  assert.equal(result.reply, "half a");
  assert.equal(result.agent, "a");
  assert.deepEqual(
    result.events.map((e) => e.type),
    ["run.started", "text.delta"],
  );
});

test("summarize: no closing event is incomplete; run.failed is failed or cancelled", async () => {
  const { summarize } = await import("../dist/index.js");
  const base = { v: 2, run_id: RUN, session_id: SESSION, ts: "t" };
  const started = { ...base, type: "run.started", agent: "a" };
  assert.equal(summarize([]).status, "incomplete");
  assert.equal(summarize([started]).status, "incomplete");
  const failed = { ...base, type: "run.failed", error: { code: "provider_error", message: "m" } };
  assert.equal(summarize([started, failed]).status, "failed");
  const cancelled = { ...base, type: "run.failed", error: { code: "cancelled", message: "m" } };
  assert.equal(summarize([started, cancelled]).status, "cancelled");
  // A delegate's closing event does not close the turn.
  const child = { ...base, type: "run.completed", run_id: "run_child", parent_run_id: RUN, depth: 1, text: "x" };
  assert.equal(summarize([started, child]).status, "incomplete");
});
