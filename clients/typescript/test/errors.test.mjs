// Error mapping (the server's code first, the status second), Retry-After,
// the API version header both ways, retries and connection failures, with a
// scripted `fetch`: no server needed.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  API_VERSION,
  BadRequest,
  ConnectionFailed,
  errorFromBody,
  errorFromResponse,
  Forbidden,
  MissingScope,
  MuxiApiError,
  MuxiClient,
  NotFound,
  parseApiVersion,
  parseRetryAfter,
  PayloadTooLarge,
  RateLimited,
  Unauthorized,
  Unavailable,
  UnsupportedApiVersion,
} from "../dist/index.js";

const body = (code, message = "m", extra = {}) => JSON.stringify({ error: { code, message, hint: "h", ...extra } });

describe("errorFromResponse", () => {
  const cases = [
    [400, body("bad_request"), BadRequest, "bad_request"],
    [401, body("unauthorized"), Unauthorized, "unauthorized"],
    [403, body("forbidden"), Forbidden, "forbidden"],
    [403, body("missing_scope", "needs admin", { scope: "admin" }), MissingScope, "missing_scope"],
    [404, body("not_found"), NotFound, "not_found"],
    [413, body("payload_too_large"), PayloadTooLarge, "payload_too_large"],
    [413, body("media_too_large"), PayloadTooLarge, "media_too_large"],
    [429, body("rate_limited"), RateLimited, "rate_limited"],
    [503, body("shutting_down"), Unavailable, "shutting_down"],
    [400, body("unsupported_api_version"), UnsupportedApiVersion, "unsupported_api_version"],
    [404, body("unsupported_api_version"), UnsupportedApiVersion, "unsupported_api_version"],
    // The status when the code says nothing more.
    [404, "", NotFound, "not_found"],
    [401, "not json", Unauthorized, "unauthorized"],
    [429, body("something_new"), RateLimited, "something_new"],
    [500, body("internal"), MuxiApiError, "internal"],
    [502, body("provider_error"), MuxiApiError, "provider_error"],
    [502, "", MuxiApiError, "bad_gateway"],
    [422, body("bad_media"), BadRequest, "bad_media"],
  ];
  for (const [status, text, Klass, code] of cases) {
    test(`${status} ${text.slice(0, 40) || "(empty)"} -> ${Klass.name}`, () => {
      const err = errorFromResponse(status, new Headers(), text);
      assert.equal(err.constructor, Klass);
      assert.ok(err instanceof MuxiApiError);
      assert.ok(err instanceof Error);
      assert.equal(err.status, status);
      assert.equal(err.code, code);
      assert.equal(err.name, Klass.name);
    });
  }

  test("message, hint and scope come from the body", () => {
    const err = errorFromResponse(403, null, body("missing_scope", "needs admin", { scope: "admin" }));
    assert.ok(err instanceof Forbidden);
    assert.equal(err.message, "needs admin");
    assert.equal(err.hint, "h");
    assert.equal(err.scope, "admin");
    assert.deepEqual(err.body, { error: { code: "missing_scope", message: "needs admin", hint: "h", scope: "admin" } });
  });

  test("a body that is not JSON is quoted in the message", () => {
    const err = errorFromResponse(502, null, "<html>bad gateway</html>");
    assert.match(err.message, /502.*bad gateway/);
    assert.equal(err.hint, null);
  });

  test("Retry-After in seconds or as a date", () => {
    const headers = new Headers({ "retry-after": "3" });
    assert.equal(errorFromResponse(429, headers, body("rate_limited")).retryAfter, 3);
    assert.equal(parseRetryAfter("0.5"), 0.5);
    assert.equal(parseRetryAfter(new Date(Date.UTC(2030, 0, 1, 0, 0, 10)).toUTCString(), Date.UTC(2030, 0, 1)), 10);
    assert.equal(parseRetryAfter("soon"), null);
    assert.equal(parseRetryAfter(null), null);
  });

  test("an error frame's code gives its status", () => {
    const err = errorFromBody(0, { code: "not_found", message: "gone" });
    assert.ok(err instanceof NotFound);
  });
});

test("parseApiVersion", () => {
  assert.deepEqual(parseApiVersion("1.1"), [1, 1]);
  assert.deepEqual(parseApiVersion("2"), [2, 0]);
  for (const bad of ["", "v1", "1.x", "1.2.3", "-1"]) assert.throws(() => parseApiVersion(bad), RangeError);
  assert.equal(API_VERSION, "1.2");
});

/** A `fetch` answering from a list of handlers, recording each request. */
function scripted(handlers) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    calls.push({ url: String(url), method: init.method ?? "GET", headers: new Headers(init.headers), body: init.body });
    const handler = handlers.shift();
    if (!handler) throw new TypeError("fetch failed");
    return handler();
  };
  return { fetch, calls };
}

const json = (obj, status = 200, headers = {}) =>
  new Response(JSON.stringify(obj), { status, headers: { "content-type": "application/json", "muxi-api-version": "1.1", ...headers } });

describe("requests", () => {
  test("every request carries the key, the API version and the acting user", async () => {
    const { fetch, calls } = scripted([() => json({ key_id: "k", role: "admin", user_id: "bob", scopes: [] })]);
    const client = new MuxiClient({ url: "http://muxi.test//", apiKey: "muxi_secret", userId: "bob", fetch });
    assert.equal((await client.me()).user_id, "bob");
    assert.equal(calls[0].url, "http://muxi.test/v1/me");
    assert.equal(calls[0].headers.get("authorization"), "Bearer muxi_secret");
    assert.equal(calls[0].headers.get("muxi-api-version"), "1.2");
    assert.equal(calls[0].headers.get("x-muxi-user-id"), "bob");
  });

  test("ids and queries are encoded", async () => {
    const { fetch, calls } = scripted([() => json({}), () => json([])]);
    const client = new MuxiClient({ url: "http://muxi.test", apiKey: "k", fetch });
    await client.sessions.get("a/b?c");
    await client.sessions.list({ query: "x y", limit: 5 });
    assert.equal(calls[0].url, "http://muxi.test/v1/sessions/a%2Fb%3Fc");
    assert.equal(calls[1].url, "http://muxi.test/v1/sessions?query=x+y&limit=5");
  });

  test("a server speaking another major is refused; one without the header (1.0) is fine", async () => {
    const { fetch } = scripted([() => json({ ok: true }, 200, { "muxi-api-version": "2.0" }), () => new Response("[]")]);
    const client = new MuxiClient({ url: "http://muxi.test", apiKey: "k", fetch });
    await assert.rejects(client.health(), (err) => err instanceof UnsupportedApiVersion && /2\.0/.test(err.message));
    assert.deepEqual(await client.agents(), []);
  });

  test("a GET is tried again on 503 and a failed connection, then succeeds", async () => {
    const { fetch, calls } = scripted([
      () => json({ error: { code: "shutting_down", message: "draining" } }, 503, { "retry-after": "0" }),
      () => {
        throw new TypeError("fetch failed");
      },
      () => json([{ name: "assistant" }]),
    ]);
    const client = new MuxiClient({ url: "http://muxi.test", apiKey: "k", fetch, retries: 2 });
    assert.deepEqual(await client.agents(), [{ name: "assistant" }]);
    assert.equal(calls.length, 3);
  });

  test("a 429 asking for a longer wait than a retry takes is thrown at once: the caller sees retryAfter", async () => {
    const { fetch, calls } = scripted([() => json({ error: { code: "rate_limited", message: "slow down" } }, 429, { "retry-after": "20" })]);
    const client = new MuxiClient({ url: "http://muxi.test", apiKey: "k", fetch });
    await assert.rejects(client.me(), (err) => err instanceof RateLimited && err.retryAfter === 20 && err.status === 429);
    assert.equal(calls.length, 1);
  });

  test("a POST is not retried on a failed connection", async () => {
    const { fetch, calls } = scripted([
      () => {
        throw new TypeError("fetch failed");
      },
    ]);
    const client = new MuxiClient({ url: "http://muxi.test", apiKey: "k", fetch });
    await assert.rejects(client.memory.add("x"), (err) => err instanceof ConnectionFailed && err.status === 0 && err.code === "connection_failed");
    assert.equal(calls.length, 1);
  });

  test("a server that does not answer in time is a ConnectionFailed", async () => {
    const fetch = (url, init) =>
      new Promise((_, reject) => init.signal.addEventListener("abort", () => reject(init.signal.reason)));
    const client = new MuxiClient({ url: "http://muxi.test", apiKey: "k", fetch, timeoutMs: 50, retries: 0 });
    await assert.rejects(client.me(), (err) => err instanceof ConnectionFailed && /50 ms/.test(err.message));
  });

  test("a turn refused while the server drains is started again", async () => {
    const { fetch, calls } = scripted([
      () => json({ error: { code: "shutting_down", message: "draining" } }, 503, { "retry-after": "0" }),
      () =>
        new Response('id: 1\ndata: {"v":2,"type":"run.completed","run_id":"r","session_id":"s","ts":"t","text":"ok"}\n\n', {
          headers: { "content-type": "text/event-stream", "x-muxi-run-id": "r", "x-muxi-session-id": "s" },
        }),
    ]);
    const client = new MuxiClient({ url: "http://muxi.test", apiKey: "k", fetch });
    const result = await (await client.chat("hi")).result();
    assert.equal(result.reply, "ok");
    assert.equal(calls.length, 2);
    assert.deepEqual(JSON.parse(calls[1].body), { message: "hi" });
  });

  test("uploads are multipart with the file's name and claimed type", async () => {
    const { fetch, calls } = scripted([() => json({ id: "abc", media_type: "text/plain", size: 2, name: "a.txt", meta: {} }, 201)]);
    const client = new MuxiClient({ url: "http://muxi.test", apiKey: "k", fetch });
    const ref = await client.media.upload(new TextEncoder().encode("hi"), { name: "a.txt", mediaType: "text/plain" });
    assert.equal(ref.id, "abc");
    const form = calls[0].body;
    assert.ok(form instanceof FormData);
    assert.equal(form.get("file").name, "a.txt");
    assert.equal(await form.get("file").text(), "hi");
    assert.equal(form.get("media_type"), "text/plain");
  });

  test("the client needs a url and a key", () => {
    assert.throws(() => new MuxiClient({ url: "", apiKey: "k" }), TypeError);
    assert.throws(() => new MuxiClient({ url: "http://x", apiKey: "" }), TypeError);
  });
});
