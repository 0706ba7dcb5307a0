// What the contract scenarios do not say, against a real `muxi serve` (the
// contract rig): the API version check, a broken SSE stream resumed from the
// server's event log, `runs.events`, an approval over SSE, closing a turn,
// a refused WebSocket turn, and the client in a real browser (Chromium).

import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { API_VERSION, ClientClosed, MuxiClient, NotFound, UnsupportedApiVersion } from "../dist/index.js";
import { findChromium, pageServer, withChromium } from "./browser.mjs";
import { startRig } from "./rig.mjs";

let rig = null;
const clients = [];

before(async () => {
  rig = await startRig();
});

// The fake model's queue is shared: each test starts from an empty one.
beforeEach(async () => {
  await rig?.control("/reset", {});
});

after(async () => {
  for (const c of clients) c.close();
  await rig?.stop();
});

async function clientFor(user, opts = {}) {
  const made = await rig.control("/key", { role: "user", user, scopes: null });
  const client = new MuxiClient({ url: rig.info.url, apiKey: made.key, ...opts });
  clients.push(client);
  return client;
}

test("the server refuses a client asking for API 2.0, and the client says so", async () => {
  const asking2 = (input, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set("muxi-api-version", "2.0");
    return fetch(input, { ...init, headers });
  };
  const client = await clientFor("version", { fetch: asking2 });
  await assert.rejects(client.me(), (err) => err instanceof UnsupportedApiVersion && err.status === 400);
  const plain = await clientFor("version");
  assert.equal((await plain.me()).user_id, "version");
});

/** A WebSocket constructor that records the frames sent; `asking` rewrites the auth frame's api_version. */
function recordingWebSocket(asking) {
  const sent = [];
  class Recording extends WebSocket {
    send(data) {
      const frame = JSON.parse(String(data));
      if (frame.type === "auth" && asking !== undefined) frame.api_version = asking;
      sent.push(frame);
      super.send(JSON.stringify(frame));
    }
  }
  return { WebSocket: Recording, sent };
}

test("the WebSocket's auth frame carries the API version; the server refuses another major", async () => {
  // Browsers cannot set the version header on the handshake: the frame says it.
  const ok = recordingWebSocket();
  await rig.control("/script", { replies: [{ text: "over the socket" }] });
  const client = await clientFor("ws-version", { WebSocket: ok.WebSocket });
  const result = await (await client.chat({ message: "hi" }, { transport: "ws" })).result();
  assert.equal(result.status, "completed", JSON.stringify(result.error));
  assert.equal(ok.sent[0].type, "auth");
  assert.equal(ok.sent[0].api_version, API_VERSION);

  const two = recordingWebSocket("2.0");
  const asking2 = await clientFor("ws-version", { WebSocket: two.WebSocket });
  await assert.rejects(
    asking2.chat({ message: "hi" }, { transport: "ws" }),
    (err) => err instanceof UnsupportedApiVersion && err.code === "unsupported_api_version" && /2\.0/.test(err.message),
  );
  assert.equal(two.sent[0].api_version, "2.0");
});

test("a turn start's idempotency key: the chat frame carries one, and a repeat of the SSE start is the same run", async () => {
  const ws = recordingWebSocket();
  await rig.control("/script", { replies: [{ text: "one" }, { text: "two" }] });
  const client = await clientFor("idem", { WebSocket: ws.WebSocket });
  await (await client.chat({ message: "hi" }, { transport: "ws" })).result();
  const chat = ws.sent.find((f) => f.type === "chat");
  assert.match(chat.idempotency_key, /^[!-~]{16,128}$/);

  let sent = null;
  const keyed = await clientFor("idem", {
    fetch: (input, init = {}) => {
      if (init.method === "POST") sent = { key: new Headers(init.headers).get("idempotency-key"), headers: init.headers, body: init.body };
      return fetch(input, init);
    },
  });
  const turn = await keyed.chat({ message: "again" });
  await turn.result();
  assert.ok(sent.key && sent.key !== chat.idempotency_key);
  // The same start sent again (a retry after a lost answer): the server answers the same run.
  const repeat = await fetch(`${rig.info.url}/v1/chat`, { method: "POST", headers: sent.headers, body: sent.body });
  assert.equal(repeat.status, 200);
  assert.equal(repeat.headers.get("x-muxi-run-id"), turn.runId);
  assert.match(await repeat.text(), /run\.completed/);
});

/** A fetch whose first `POST /v1/chat` stream breaks after `events` events. */
function breakingFetch(events) {
  let broken = false;
  return async (input, init = {}) => {
    const res = await fetch(input, init);
    if (broken || init.method !== "POST" || !String(input).endsWith("/v1/chat")) return res;
    broken = true;
    const reader = res.body.getReader();
    let seen = 0;
    let text = "";
    const dec = new TextDecoder();
    const enc = new TextEncoder();
    const body = new ReadableStream({
      async pull(c) {
        // Pass whole events through until `events` of them went by, then fail.
        for (;;) {
          const cut = text.indexOf("\n\n");
          if (cut >= 0) {
            const frame = text.slice(0, cut + 2);
            text = text.slice(cut + 2);
            if (frame.includes("data:")) seen++;
            c.enqueue(enc.encode(frame));
            if (seen >= events) {
              reader.cancel().catch(() => undefined);
              c.error(new TypeError("terminated: the connection broke"));
            }
            return;
          }
          const { value, done } = await reader.read();
          if (done) return c.close();
          text += dec.decode(value, { stream: true });
        }
      },
    });
    return new Response(body, { status: res.status, headers: res.headers });
  };
}

test("a broken SSE stream is resumed from the server's event log, each event once", async () => {
  const notices = [];
  const client = await clientFor("resume", { fetch: breakingFetch(3), onNotice: (m) => notices.push(m) });
  await rig.control("/script", { replies: [{ text: "one two three four five six", chunks: 6, delay: 0.05 }] });
  const turn = await client.chat({ message: "count" });
  const result = await turn.result();
  assert.equal(result.status, "completed", JSON.stringify(result.error));
  assert.equal(result.reply, "one two three four five six");
  const types = result.events.map((e) => e.type);
  assert.equal(types.filter((t) => t === "run.started").length, 1);
  assert.equal(types.filter((t) => t === "text.delta").length, 6);
  assert.equal(turn.state.resumed, 1);
  assert.ok(notices.some((m) => m.includes("resuming")), notices.join("\n"));
  // The log the resume read from: the whole run again, after any id.
  const again = [];
  for await (const e of client.runs.events(turn.runId, { after: 2 })) again.push(e.type);
  assert.deepEqual(again, types.slice(2));
});

test("runs.events of a run that is not yours or not known is NotFound", async () => {
  const client = await clientFor("stranger");
  await assert.rejects(async () => {
    for await (const _ of client.runs.events("run_doesnotexist")) {
      // nothing
    }
  }, NotFound);
});

test("a tool approval over SSE: pending, allowed with a POST, the tool runs", async () => {
  const client = await clientFor("approve-sse");
  await rig.control("/script", {
    replies: [{ tool_calls: [{ name: "calculator", arguments: { expression: "6*7" } }] }, { text: "it is 42" }],
  });
  const turn = await client.chat({ message: "6*7?", approval: "interactive" }, { transport: "sse" });
  const decisions = [];
  for await (const e of turn) {
    if (e.type !== "tool.approval") continue;
    decisions.push(e.decision);
    if (e.decision === "pending") {
      assert.deepEqual(turn.pending(), [{ runId: e.run_id, callId: e.call_id }]);
      await turn.approve(e.call_id, "allow");
    }
  }
  const result = await turn.result();
  assert.deepEqual(decisions, ["pending", "allowed"]);
  assert.equal(result.reply, "it is 42");
  assert.equal(result.toolCalls.length, 1);
  assert.equal(result.toolCalls[0].ok, true);
  assert.match(result.toolCalls[0].content, /42/);
  assert.deepEqual(turn.pending(), []);
});

test("closing a turn early cancels it on the server", async () => {
  const client = await clientFor("closer");
  for (const transport of ["sse", "ws"]) {
    await rig.control("/script", { replies: [{ text: "a b c d e f g h", delay: 0.3 }] });
    const turn = await client.chat({ message: "slowly" }, { transport });
    for await (const e of turn) if (e.type === "text.delta") break;
    await turn.close();
    let status = null;
    // The partial reply is saved as the cancel lands (half a second apart: the key's rate is low).
    for (let i = 0; i < 24 && status !== "cancelled"; i++) {
      const messages = await client.sessions.messages(turn.sessionId);
      status = messages.find((m) => m.role === "assistant")?.status ?? null;
      if (status !== "cancelled") await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(status, "cancelled", transport);
  }
});

test("a turn refused over the WebSocket is an error, and the socket serves the next turn", async () => {
  const client = await clientFor("refused-ws");
  const missing = "0".repeat(64);
  await assert.rejects(
    client.chat({ message: "this?", attachments: [{ name: "x.png", media_id: missing }] }, { transport: "ws" }),
    (err) => err instanceof NotFound && err.code === "not_found" && err.status === 404,
  );
  await rig.control("/script", { replies: [{ text: "fine" }] });
  const result = await (await client.chat({ message: "hi" }, { transport: "ws" })).result();
  assert.equal(result.status, "completed", JSON.stringify(result.error));
  assert.equal(result.reply, "fine");
});

// The page's script: the same client, in a browser (fetch, web streams, WebSocket).
const PAGE = `<!doctype html><meta charset="utf-8"><title>muxi client</title><script type="module">
import { MuxiClient, NotFound, API_VERSION } from "/dist/index.js";
const out = { api: API_VERSION };
try {
  const key = decodeURIComponent(location.hash.slice(1));
  const muxi = new MuxiClient({ url: location.origin, apiKey: key });
  out.me = (await muxi.me()).user_id;
  const sse = await muxi.chat({ message: "hello" }, { transport: "sse" });
  let text = "";
  for await (const e of sse) if (e.type === "text.delta") text += e.text;
  out.sse = { text, status: (await sse.result()).status };
  const ws = await muxi.chat({ message: "6*7?", approval: "interactive" });
  for await (const e of ws) if (e.type === "tool.approval" && e.decision === "pending") await ws.approve(e.call_id, "allow");
  const r = await ws.result();
  out.ws = { reply: r.reply, status: r.status, ok: r.toolCalls[0]?.ok ?? null };
  try { await muxi.sessions.get("s_nothere"); } catch (err) { out.notFound = err instanceof NotFound && err.status === 404; }
  muxi.close();
} catch (err) { out.error = String(err && err.stack || err); }
await fetch("/result", { method: "POST", body: JSON.stringify(out) });
</script>`;

test("in a browser: an SSE turn, a WebSocket turn with an approval, a typed error", async (t) => {
  const chromium = findChromium();
  if (!chromium) {
    if (process.env.MUXI_TEST_CI) throw new Error("Chromium is not installed (scripts/os-packages installs it)");
    return t.skip("no Chromium on PATH");
  }
  const made = await rig.control("/key", { role: "user", user: "browser", scopes: null });
  await rig.control("/script", {
    replies: [
      { text: "hi from the server", chunks: 3 },
      { tool_calls: [{ name: "calculator", arguments: { expression: "6*7" } }] },
      { text: "it is 42" },
    ],
  });
  const page = await pageServer(rig.info.url, PAGE);
  try {
    const out = await withChromium(chromium, `${page.url}#${encodeURIComponent(made.key)}`, page.result);
    assert.equal(out.error, undefined, out.error);
    assert.deepEqual(out, {
      api: "1.2",
      me: "browser",
      sse: { text: "hi from the server", status: "completed" },
      ws: { reply: "it is 42", status: "completed", ok: true },
      notFound: true,
    });
  } finally {
    await page.close();
  }
});

test("closing the client closes its running turn and refuses what follows", async () => {
  const client = await clientFor("closing");
  await rig.control("/script", { replies: [{ text: "a b c d e f g h", delay: 0.3 }] });
  const turn = await client.chat({ message: "slowly" });
  for await (const e of turn) if (e.type === "text.delta") break;
  await client.close();
  await assert.rejects(turn.next(), (err) => err instanceof ClientClosed);
  await assert.rejects(turn.result(), (err) => err instanceof ClientClosed);
  await assert.rejects(turn.cancel(), (err) => err instanceof ClientClosed);
  await assert.rejects(client.sessions.list(), (err) => err instanceof ClientClosed);
  // The server heard the cancel: the run ended cancelled.
  const other = await clientFor("closing");
  let last = null;
  for await (const e of other.runs.events(turn.runId)) last = e;
  assert.equal(last.type, "run.failed");
  assert.equal(last.error.code, "cancelled");
});

test("a turn the server took while the client closed goes with it", async () => {
  for (const transport of ["sse", "ws"]) {
    const runs = [];
    const recording = async (input, init) => {
      const res = await fetch(input, init);
      const run = res.headers.get("x-muxi-run-id");
      if (run) runs.push(run);
      return res;
    };
    const client = await clientFor("closing-start", { fetch: recording });
    await rig.control("/script", { replies: [{ text: "a b c d e f g h", delay: 0.3 }] });
    // close() while chat() waits for the server to take the turn: it came back
    // live on a closed client (its stream open, the turn never cancelled).
    const starting = client.chat({ message: "slowly" }, { transport });
    const closing = client.close();
    await assert.rejects(starting, (err) => err instanceof ClientClosed || assert.fail(`${transport}: ${err}`));
    await closing;
    if (transport === "sse") {
      assert.equal(runs.length, 1);
      const other = await clientFor("closing-start");
      let last = null;
      for await (const e of other.runs.events(runs[0])) last = e;
      assert.equal(last.type, "run.failed");
      assert.equal(last.error.code, "cancelled");
    }
  }
});

test("a start lost before its answer is sent again with its key: one run, completed", async () => {
  // SSE: the server took the POST and its answer was lost (the response is
  // thrown away and the client told the connection failed). WS: the first
  // socket is refused, then the next is closed right after the chat frame went.
  let lostSse = 0;
  const losing = async (input, init = {}) => {
    const res = await fetch(input, init);
    if (init.method === "POST" && String(input).endsWith("/v1/chat") && lostSse++ === 0) {
      await res.body?.cancel();
      throw new TypeError("fetch failed (the proxy cut it)");
    }
    return res;
  };
  let lostWs = 0;
  let refused = 0;
  class Losing extends WebSocket {
    constructor(url, ...rest) {
      // The first socket is refused (nothing listens on port 1), as a server restarting is.
      super(refused++ === 0 ? "ws://127.0.0.1:1/v1/ws" : url, ...rest);
    }

    send(data) {
      super.send(data);
      if (JSON.parse(String(data)).type === "chat" && lostWs++ === 0) this.close();
    }
  }
  const client = await clientFor("lost-start", { fetch: losing, WebSocket: Losing });
  await client.health(); // its answer says the server keeps keys (1.2+)
  for (const transport of ["sse", "ws"]) {
    await rig.control("/script", { replies: [{ text: `once over ${transport}` }] });
    const turn = await client.chat({ message: `lose ${transport}` }, { transport });
    const result = await turn.result();
    assert.equal(result.status, "completed", `${transport}: ${JSON.stringify(result.error)}`);
    assert.equal(result.reply, `once over ${transport}`);
    const messages = await client.sessions.messages(turn.sessionId);
    assert.deepEqual(
      messages.map((m) => m.role),
      ["user", "assistant"],
      `${transport}: the turn ran once`,
    );
  }
  assert.deepEqual([lostSse, lostWs].map((n) => n > 1), [true, true], "each transport lost one start and retried");
  assert.ok(refused > 2, "the refused WebSocket was opened again");
});
