// A WebSocket turn start lost on its way, against a server older than API 1.2
// (a stand-in speaking the WebSocket protocol by hand: no real muxi serve of
// this checkout is that old). Such a server ignores the idempotency key, so a
// resend of a chat frame it had read would run the turn a second time.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import { after, before, test } from "node:test";
import { ConnectionFailed, MuxiClient } from "../dist/index.js";

let server;
let url;
let chats = 0;
let apiVersion; // the ready frame's api_version (undefined: none, a 1.0 server)
// "drop": a chat frame is read, then the socket dropped; "silent": never answered;
// "once": a socket's first turn is answered, a later one dropped.
let mode = "drop";
const sockets = new Set();

function textFrame(text) {
  const data = Buffer.from(text);
  return Buffer.concat([Buffer.from([0x81, data.length]), data]); // short frames only
}

function* clientTexts(buf) {
  // Masked client frames with payloads under 64 KiB (7- or 16-bit lengths).
  let at = 0;
  while (at + 2 <= buf.length) {
    let len = buf[at + 1] & 0x7f;
    let head = 2;
    if (len === 126) {
      len = buf.readUInt16BE(at + 2);
      head = 4;
    }
    const mask = buf.subarray(at + head, at + head + 4);
    const body = buf.subarray(at + head + 4, at + head + 4 + len);
    yield Buffer.from(body.map((b, i) => b ^ mask[i % 4])).toString();
    at += head + 4 + len;
  }
}

before(async () => {
  server = createServer((_req, res) => res.writeHead(404).end());
  server.on("upgrade", (req, socket) => {
    const accept = createHash("sha1")
      .update(req.headers["sec-websocket-key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
      .digest("base64");
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    const ready = { type: "ready", key_id: "k", role: "user", user_id: "u" };
    if (apiVersion !== undefined) ready.api_version = apiVersion;
    socket.write(textFrame(JSON.stringify(ready)));
    let answered = false;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("data", (buf) => {
      for (const text of clientTexts(buf)) {
        let frame = {};
        try {
          frame = JSON.parse(text);
        } catch {}
        if (frame.type === "chat") {
          chats++;
          if (mode === "silent") return; // read, and never answered
          if (mode === "once" && !answered) {
            answered = true; // this socket's first turn runs to its end
            const ids = { v: 2, run_id: `r${chats}`, session_id: "s", ts: "t" };
            socket.write(textFrame(JSON.stringify({ ...ids, type: "run.started", seq: 1, agent: "a" })));
            socket.write(textFrame(JSON.stringify({ ...ids, type: "run.completed", seq: 2, text: "ok" })));
            socket.write(textFrame(JSON.stringify({ type: "done", run_id: ids.run_id })));
            continue;
          }
          socket.destroy(); // read (and started), then the connection drops
          return;
        }
      }
    });
    socket.on("error", () => {});
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${server.address().port}`;
});

after(() => {
  for (const socket of sockets) socket.destroy(); // a silent one the client left
  return new Promise((resolve) => server.close(resolve));
});

for (const version of [undefined, "1.1"]) {
  test(`a lost WebSocket start is not sent again to a server without keys (api_version ${version})`, async () => {
    apiVersion = version;
    chats = 0;
    const client = new MuxiClient({ url, apiKey: "muxi_k" });
    try {
      await assert.rejects(client.chat("run the tool", { transport: "ws" }), (err) => err.code === "connection_failed");
    } finally {
      await client.close();
    }
    assert.equal(chats, 1, "the start was sent again to a server that ignores its key");
  });
}

test("a lost WebSocket start is sent again to a 1.2 server (its key attaches the repeat)", async () => {
  apiVersion = "1.2";
  chats = 0;
  const client = new MuxiClient({ url, apiKey: "muxi_k" });
  try {
    await assert.rejects(client.chat("run the tool", { transport: "ws" }));
  } finally {
    await client.close();
  }
  assert.equal(chats, 4);
});

test("a kept socket dropped after the frame went is not sent again to a server without keys", async () => {
  apiVersion = "1.1";
  mode = "once";
  chats = 0;
  const client = new MuxiClient({ url, apiKey: "muxi_k" });
  try {
    assert.equal((await (await client.chat("first", { transport: "ws" })).result()).status, "completed");
    // The kept socket carries the next start; the server read it, then dropped the socket.
    await assert.rejects(client.chat("second", { transport: "ws" }), (err) => err.code === "connection_failed");
  } finally {
    await client.close();
    mode = "drop";
  }
  assert.equal(chats, 2, "the start was sent again to a server that ignores its key");
});

test("a WebSocket start the server never answers ends at the request timeout", { timeout: 10_000 }, async () => {
  apiVersion = "1.2";
  mode = "silent";
  chats = 0;
  const client = new MuxiClient({ url, apiKey: "muxi_k", timeoutMs: 300 });
  try {
    await assert.rejects(client.chat("hi", { transport: "ws" }), (err) => err instanceof ConnectionFailed && /did not start/.test(err.message));
  } finally {
    await client.close();
    mode = "drop";
  }
  assert.equal(chats, 1, "not sent again: the server has it");
});
