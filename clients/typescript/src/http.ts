// The HTTP layer: one place that adds the key, the API version and the acting
// user to every request, applies the timeout, retries what is safe to retry,
// checks the server's API version and turns failures into typed errors.
//
// Retries follow the Python client's policy (muxi_cli/client/transport.py), with
// the same numbers: a GET is tried again after a failed connection or a
// 429/502/503/504, up to RETRIES times, waiting BACKOFF seconds doubling (at most
// MAX_BACKOFF), or what `Retry-After` asks when that is at most MAX_RETRY_WAIT
// seconds (a longer wait is the caller's decision: the error is thrown at once,
// with `retryAfter`). A request that changes something is never repeated, except
// a turn start refused with 503 `shutting_down` (the turn never started; behind a
// load balancer the next try may reach another replica): up to START_RETRIES
// times with the same backoff; and a turn start that carries an idempotency key
// and got no answer of muxi's own (no connection, the connection dropped before
// the answer, a proxy's bare 502/503/504): up to RETRIES times. The server may
// have taken that start; its key attaches the repeat to the turn it runs.

import { clientClosed, connectionFailed, errorFromResponse, MuxiApiError, UnsupportedApiVersion } from "./errors.js";
import { API_VERSION, API_VERSION_HEADER, compatibleApiVersion, keepsTurnKeys, UNSUPPORTED_API_VERSION } from "./version.js";

export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
export type Query = Record<string, string | number | boolean | null | undefined>;

export interface HttpOptions {
  url: string;
  apiKey: string;
  userId?: string | null;
  fetch?: FetchLike;
  timeoutMs?: number;
  retries?: number;
}

export interface RequestOptions {
  query?: Query;
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
  /** Return once the headers are in; the timeout then stops (a stream may run for minutes). */
  stream?: boolean;
  /** Try again on a failed connection or 429/502/503/504 (default: for GET only). */
  retry?: boolean;
  /** Try again while the server answers 503 `shutting_down` (a turn that never started). */
  retryDraining?: boolean;
  /** A turn start with an idempotency key: try again when it got no answer of muxi's own (LOST_START). */
  retryLost?: boolean;
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Sent even after `close()`: a turn's own cancel while the client closes it. */
  closing?: boolean;
}

/** Statuses worth another try of a GET: rate limited, or a proxy/replica that is not ready. */
export const RETRY_STATUS: ReadonlySet<number> = new Set([429, 502, 503, 504]);
/** Tries of a GET after the first (the `retries` option's default). */
export const RETRIES = 3;
/** The first wait between tries, in seconds; it doubles, up to MAX_BACKOFF. */
export const BACKOFF = 0.25;
export const MAX_BACKOFF = 4;
/** The longest `Retry-After` (seconds) a retry waits for; a longer one is thrown at once. */
export const MAX_RETRY_WAIT = 5;
/** Tries again of a turn start the server refused with 503 `shutting_down`. */
export const START_RETRIES = 6;

/** Codes of a turn start that got no answer of muxi's own: no connection, or a proxy's bare 502/503/504. */
export const LOST_START: ReadonlySet<string> = new Set(["connection_failed", "bad_gateway", "unavailable", "gateway_timeout"]);

/** Seconds before try `attempt + 1` (0-based): what the server asked (`Retry-After`), else the doubling backoff. */
export function backoff(attempt: number, asked?: number | null): number {
  if (asked != null && asked >= 0) return asked;
  return Math.min(BACKOFF * 2 ** attempt, MAX_BACKOFF);
}

/** `backoff` in milliseconds. */
export const backoffMs = (attempt: number, asked?: number | null): number => backoff(attempt, asked) * 1000;

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });

/** A path segment, quoted (ids come from users). */
export const seg = (value: string): string => encodeURIComponent(String(value)) || "-";

export class Http {
  readonly url: string;
  readonly apiKey: string;
  readonly userId: string | null;
  readonly timeoutMs: number;
  readonly retries: number;
  /** Set by the client's `close()`: every later request throws `ClientClosed`. */
  closed = false;
  /** The `Muxi-Api-Version` the server's last answer named (null: none yet, or a 1.0 server). */
  serverApiVersion: string | null = null;
  private readonly fetchImpl: FetchLike;

  constructor(opts: HttpOptions) {
    this.url = opts.url.replace(/\/+$/, "");
    this.apiKey = opts.apiKey;
    this.userId = opts.userId ?? null;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.retries = Math.max(0, opts.retries ?? RETRIES);
    const f = opts.fetch ?? globalThis.fetch;
    if (typeof f !== "function") throw new TypeError("no fetch on this platform: pass the `fetch` option");
    // Called unbound, `window.fetch` throws "Illegal invocation" in browsers.
    this.fetchImpl = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  /** The headers every request carries. */
  headers(extra?: Record<string, string>): Headers {
    const h = new Headers(extra);
    h.set("authorization", `Bearer ${this.apiKey}`);
    h.set(API_VERSION_HEADER, API_VERSION);
    if (this.userId) h.set("x-muxi-user-id", this.userId);
    return h;
  }

  endpoint(path: string, query?: Query): string {
    let url = `${this.url}${path}`;
    if (query) {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) params.set(k, String(v));
      const qs = params.toString();
      if (qs) url += `?${qs}`;
    }
    return url;
  }

  /** A request; resolves to the response of a 2xx answer, throws a `MuxiApiError` otherwise. */
  async request(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    if (this.closed && !opts.closing) throw clientClosed();
    const retry = opts.retry ?? method === "GET";
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.once(method, path, opts);
      } catch (err) {
        if (!(err instanceof MuxiApiError) || opts.signal?.aborted) throw err;
        // A server older than 1.2 ignores the key: a start it may have read is sent
        // again only when nothing went (refused) or it said it keeps keys.
        const lost = opts.retryLost === true && (neverSent(err) || keepsTurnKeys(this.serverApiVersion));
        const wait =
          opts.retryLost === true && err.code === "turn_starting"
            ? startingWait(err, attempt)
            : retryWait(err, attempt, retry ? this.retries : 0, opts.retryDraining === true, lost);
        if (wait === null) throw err;
        await sleep(wait * 1000, opts.signal);
      }
    }
  }

  private async once(method: string, path: string, opts: RequestOptions): Promise<Response> {
    const url = this.endpoint(path, opts.query);
    const headers = this.headers(opts.headers);
    let body: BodyInit | undefined = opts.body;
    if (opts.json !== undefined) {
      headers.set("content-type", "application/json");
      body = JSON.stringify(opts.json);
    }
    const ctl = new AbortController();
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const timer = timeoutMs > 0 ? setTimeout(() => ctl.abort(new TimeoutError(timeoutMs)), timeoutMs) : null;
    const onAbort = () => ctl.abort(opts.signal?.reason);
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener("abort", onAbort, { once: true });
    let res: Response;
    try {
      res = await this.fetchImpl(url, { method, headers, body, signal: ctl.signal });
    } catch (err) {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      if (opts.signal?.aborted) throw opts.signal.reason ?? err;
      throw connectionFailed(this.url, ctl.signal.reason instanceof TimeoutError ? ctl.signal.reason : err);
    }
    const done = () => {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
    };
    const named = res.headers.get(API_VERSION_HEADER);
    if (named) this.serverApiVersion = named; // a proxy's own answer names none
    try {
      checkVersion(res);
      if (!res.ok) {
        const text = await res.text().catch(() => "");
        throw errorFromResponse(res.status, res.headers, text);
      }
    } catch (err) {
      done();
      throw err;
    }
    if (opts.stream) {
      // The timeout covered the answer's head; the stream itself may take minutes.
      // The caller's signal still aborts it (the listener stays while it runs).
      if (timer) clearTimeout(timer);
      return res;
    }
    // A plain answer: read it whole under the timeout, then hand back a copy.
    try {
      const buf = await res.arrayBuffer();
      return new Response(res.status === 204 ? null : buf, { status: res.status, headers: res.headers });
    } catch (err) {
      throw connectionFailed(this.url, ctl.signal.reason instanceof TimeoutError ? ctl.signal.reason : err);
    } finally {
      done();
    }
  }

  async json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.request(method, path, opts);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }
}

/**
 * Seconds to wait before trying a failed request again, or null to throw the
 * error: `retries` tries for a failed connection or a RETRY_STATUS answer whose
 * `Retry-After` is at most MAX_RETRY_WAIT; with `draining`, START_RETRIES tries
 * while the server answers 503 `shutting_down`; with `lost` (a keyed turn
 * start), RETRIES tries while it gets no answer of muxi's own (LOST_START).
 */
export function retryWait(err: MuxiApiError, attempt: number, retries: number, draining = false, lost = false): number | null {
  if (draining && err.status === 503 && err.code === "shutting_down") {
    return attempt < START_RETRIES ? backoff(attempt) : null;
  }
  if (lost && LOST_START.has(err.code)) return attempt < RETRIES ? backoff(attempt) : null;
  if (attempt >= retries || err.code === UNSUPPORTED_API_VERSION) return null;
  if (err.status !== 0 && !RETRY_STATUS.has(err.status)) return null;
  const asked = err.status === 0 ? null : err.retryAfter;
  if (asked != null && asked > MAX_RETRY_WAIT) return null;
  return backoff(attempt, asked);
}

/**
 * Seconds to wait before a keyed turn start the server still holds (409
 * `turn_starting`) is sent again with its key: what it asked (`Retry-After`, at
 * most MAX_RETRY_WAIT), RETRIES times; null to throw.
 */
export function startingWait(err: MuxiApiError, attempt: number): number | null {
  const asked = err.retryAfter;
  if (attempt >= RETRIES || (asked != null && asked > MAX_RETRY_WAIT)) return null;
  return backoff(attempt, asked);
}

/** Whether a failed request never reached the server (connection refused: nothing was sent). */
export function neverSent(err: MuxiApiError): boolean {
  const cause = (err as { cause?: { cause?: { code?: unknown } } }).cause;
  const code = cause?.cause?.code;
  return err.code === "connection_failed" && (code === "ECONNREFUSED" || code === "ENOTFOUND");
}

/** The request took longer than the client's timeout. */
export class TimeoutError extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = "TimeoutError";
  }
}

/** Throws `UnsupportedApiVersion` when a response says it speaks another major. */
export function checkVersion(res: Response): void {
  const version = res.headers.get(API_VERSION_HEADER);
  if (version === null || compatibleApiVersion(version)) return; // no header: a 1.0 server, fine
  throw new UnsupportedApiVersion({
    status: res.status,
    code: UNSUPPORTED_API_VERSION,
    message: `this client speaks muxi API ${API_VERSION}; the server answered with ${version}`,
    hint: "use a client release that speaks the server's API version",
  });
}
