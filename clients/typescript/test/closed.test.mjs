// A closed client stays closed, and a WebSocket of another major never gets a
// turn: with a scripted `fetch` and a scripted `WebSocket`, no server needed.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ClientClosed, MuxiApiError, MuxiClient, UnsupportedApiVersion } from "../dist/index.js";

const json = (obj, status = 200) =>
  new Response(JSON.stringify(obj), { status, headers: { "content-type": "application/json", "muxi-api-version": "1.1" } });

/** A `fetch` that answers every request with `{}` and counts them. */
function counting() {
  const calls = [];
  const fetch = async (url, init = {}) => {
    calls.push(`${init.method ?? "GET"} ${String(url)}`);
    return json({ user_id: "u", role: "user", key_id: "k", scopes: [] });
  };
  return { fetch, calls };
}

/** A WebSocket that answers the auth frame with `ready` naming `apiVersion`, and records every frame sent. */
function scriptedSocket(apiVersion, sent) {
  return class FakeSocket {
    readyState = 0;
    listeners = {};
    constructor() {
      setTimeout(() => {
        this.readyState = 1;
        this.emit("open", {});
      }, 0);
    }
    addEventListener(type, fn) {
      (this.listeners[type] ??= []).push(fn);
    }
    emit(type, ev) {
      for (const fn of this.listeners[type] ?? []) fn(ev);
    }
    send(data) {
      const frame = JSON.parse(data);
      sent.push(frame);
      const reply = (obj) => setTimeout(() => this.emit("message", { data: JSON.stringify(obj) }), 0);
      if (frame.type === "auth") {
        reply({ type: "ready", key_id: "k", role: "user", user_id: "u", version: "9", api_version: apiVersion });
      } else if (frame.type === "chat") {
        // What a server would do with it: run it.
        reply({ type: "run.started", run_id: "run_1", session_id: "ses_1", v: 2, seq: 1, agent: "a" });
      }
    }
    close() {
      this.readyState = 3;
      setTimeout(() => this.emit("close", { code: 1000, reason: "" }), 0);
    }
  };
}

describe("a closed client", () => {
  test("refuses every call with ClientClosed and opens nothing", async () => {
    const { fetch, calls } = counting();
    const sent = [];
    const client = new MuxiClient({ url: "http://muxi.test", apiKey: "k", fetch, WebSocket: scriptedSocket("1.1", sent) });
    assert.equal((await client.me()).user_id, "u");
    await client.close();
    const before = calls.length;
    const attempts = [
      () => client.me(),
      () => client.sessions.list(),
      () => client.media.usage(),
      () => client.chat("hi"),
      () => client.chat("hi", { transport: "ws" }),
      () => client.mcp.loginStatus("secure"),
      () => client.runs.events("run_1").next(),
    ];
    for (const attempt of attempts) {
      await assert.rejects(attempt(), (err) => err instanceof ClientClosed && err instanceof MuxiApiError && err.code === "client_closed" && err.status === 0);
    }
    assert.equal(calls.length, before, "a closed client sent a request");
    assert.deepEqual(sent, [], "a closed client opened a WebSocket");
    await client.close(); // again: nothing
  });
});

describe("the WebSocket's API version", () => {
  test("is checked before the chat frame is sent", async () => {
    const sent = [];
    const client = new MuxiClient({ url: "http://muxi.test", apiKey: "k", fetch: counting().fetch, WebSocket: scriptedSocket("2.0", sent) });
    await assert.rejects(
      client.chat({ message: "run the tool", approval: "interactive" }),
      (err) => err instanceof UnsupportedApiVersion && /2\.0/.test(err.message),
    );
    assert.deepEqual(
      sent.map((f) => f.type),
      ["auth"],
      "the turn reached a server of another major",
    );
    await client.close();
  });
});
