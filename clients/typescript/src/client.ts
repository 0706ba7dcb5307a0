// `MuxiClient`: the muxi server API for scripts, services and browsers. Plain
// calls are `fetch` requests; a turn streams over SSE (`POST /v1/chat`), or
// over the WebSocket when it asks for interactive approval (approvals and
// cancel then travel on the same socket). Nothing but the platform's `fetch`,
// streams and `WebSocket` is used, so it runs in Node 20+ and browsers alike.

import { ConnectionFailed } from "./errors.js";
import type { AgentInfo, ChatBody, Health, MediaRef, MemoryItem, MessageOut, SessionInfo } from "./generated.js";
import { type FetchLike, Http, seg } from "./http.js";
import { followRun, SSETurn } from "./sse.js";
import type { ChatTurn, MuxiEvent } from "./turn.js";
import { turnKey, type WebSocketConstructor, WsPool, WsTurn } from "./ws.js";

/** A chat turn's request (`POST /v1/chat`): the server fills in the user; the client always streams. */
export type ChatRequest = Omit<ChatBody, "user_id" | "stream">;

export type Transport = "auto" | "sse" | "ws";

export interface MuxiClientOptions {
  /** The server, e.g. `http://127.0.0.1:8765`. */
  url: string;
  /** A key of that server (`muxi_<id>_<secret>`). */
  apiKey: string;
  /** Admin keys only: act as this user (`X-Muxi-User-Id`). */
  userId?: string | null;
  /** A `fetch` to use instead of the global one. */
  fetch?: FetchLike;
  /** A `WebSocket` constructor where there is no global one (Node 20 without `--experimental-websocket`: the `ws` package). */
  WebSocket?: WebSocketConstructor;
  /** Timeout of a request (a stream: until its headers), in ms; 0: none. Default 30 s. */
  timeoutMs?: number;
  /**
   * Tries again of a GET after a failed connection or a 429/502/503/504, with
   * backoff (0.25 s doubling) or the server's `Retry-After` when at most 5 s.
   * Default 3 (`RETRIES`); 0 turns it off. Other requests are not repeated.
   */
  retries?: number;
  /** Where connection diagnostics go ("the stream broke; resuming"); default: nowhere. */
  onNotice?: (message: string) => void;
}

export interface ChatOptions {
  /** `auto` (default): the WebSocket when `approval` is `interactive`, SSE otherwise. */
  transport?: Transport;
  /** Aborts starting the turn; once it started, closes it (an unfinished turn is cancelled on the server). */
  signal?: AbortSignal;
}

/** `GET /v1/me`. */
export interface Me {
  key_id: string;
  role: "admin" | "user" | string;
  user_id: string;
  scopes: string[];
  [field: string]: unknown;
}

/** A key as `GET /v1/keys` lists it (never its secret). */
export interface KeyInfo {
  id: string;
  role: string;
  user_id?: string | null;
  label?: string | null;
  scopes?: string[] | null;
  created_at?: string;
  last_used_at?: string | null;
  [field: string]: unknown;
}

/** A new key: the secret `key` is shown once. */
export interface CreatedKey extends KeyInfo {
  key: string;
}

/** `GET /v1/media`: how much media the caller stores. */
export interface MediaUsage {
  user_id: string;
  used: number;
  quota: number;
  max_upload: number;
  [field: string]: unknown;
}

export interface SessionExport {
  format: "md" | "json" | string;
  content: string;
}

/** A file to upload: bytes, or a `Blob`/`File` (whose name and type are the defaults). */
export type UploadData = Blob | Uint8Array | ArrayBuffer;

export class MuxiClient {
  readonly url: string;
  readonly http: Http;
  readonly sessions: Sessions;
  readonly memory: Memory;
  readonly media: Media;
  readonly keys: Keys;
  readonly runs: Runs;
  private readonly pool: WsPool;
  private readonly onNotice?: (message: string) => void;

  constructor(opts: MuxiClientOptions) {
    if (!opts || typeof opts.url !== "string" || !opts.url) throw new TypeError("MuxiClient needs `url`");
    if (typeof opts.apiKey !== "string" || !opts.apiKey) throw new TypeError("MuxiClient needs `apiKey`");
    this.http = new Http(opts);
    this.url = this.http.url;
    this.onNotice = opts.onNotice;
    const Ctor = opts.WebSocket;
    this.pool = new WsPool(
      this.http,
      () => {
        const found = Ctor ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
        if (!found) {
          throw new ConnectionFailed({
            status: 0,
            code: "connection_failed",
            message: "no WebSocket on this platform",
            hint: "pass the `WebSocket` option (e.g. the `ws` package), run Node with --experimental-websocket, or use transport: \"sse\"",
          });
        }
        return found;
      },
      this.http.timeoutMs || 30_000,
      opts.onNotice,
    );
    this.sessions = new Sessions(this.http);
    this.memory = new Memory(this.http);
    this.media = new Media(this.http);
    this.keys = new Keys(this.http);
    this.runs = new Runs(this.http, opts.onNotice);
  }

  /**
   * Starts a turn; resolves once the server acknowledged it (`runId` and
   * `sessionId` are known). Iterate the turn for its events or await `result()`.
   */
  async chat(request: ChatRequest | string, opts: ChatOptions = {}): Promise<ChatTurn> {
    const body: ChatRequest = typeof request === "string" ? { message: request } : request;
    const transport = opts.transport ?? "auto";
    const ws = transport === "ws" || (transport === "auto" && body.approval === "interactive");
    opts.signal?.throwIfAborted();
    // Before the turn exists the signal aborts the request; after, it closes the turn.
    let turn: ChatTurn | null = null;
    const ctl = new AbortController();
    const onAbort = () => (turn ? void turn.close() : ctl.abort(opts.signal?.reason));
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    // One idempotency key for every try of this start: a repeat the server
    // already took attaches to that turn instead of running it twice.
    const key = turnKey();
    try {
      if (ws) {
        turn = await WsTurn.start(this.pool, body as Record<string, unknown>, key);
      } else {
        const res = await this.http.request("POST", "/v1/chat", {
          json: body,
          headers: { accept: "text/event-stream", "idempotency-key": key },
          stream: true,
          retryDraining: true, // refused while draining: the turn never started
          signal: ctl.signal,
        });
        const sse = new SSETurn(
          this.http,
          ctl,
          res,
          res.headers.get("x-muxi-run-id") ?? "",
          res.headers.get("x-muxi-session-id") ?? body.session_id ?? "",
          this.onNotice,
        );
        await sse.begin();
        turn = sse;
      }
    } catch (err) {
      opts.signal?.removeEventListener("abort", onAbort);
      throw err;
    }
    if (opts.signal?.aborted) await turn.close(); // aborted while it was being acknowledged
    return turn;
  }

  /** The key's id, role, scopes and the user it acts as. */
  me(): Promise<Me> {
    return this.http.json("GET", "/v1/me");
  }

  /** The runtime's health (default agent, model, providers). */
  health(): Promise<Health> {
    return this.http.json("GET", "/v1/health");
  }

  /** The formation's agents the key may use. */
  agents(): Promise<AgentInfo[]> {
    return this.http.json("GET", "/v1/agents");
  }

  /** Closes the WebSocket kept for the next turn (Node keeps running while it is open). */
  close(): void {
    this.pool.close();
  }
}

class Sessions {
  constructor(private readonly http: Http) {}

  list(opts: { query?: string | null; limit?: number | null } = {}): Promise<SessionInfo[]> {
    return this.http.json("GET", "/v1/sessions", { query: { query: opts.query, limit: opts.limit } });
  }

  get(sessionId: string): Promise<SessionInfo> {
    return this.http.json("GET", `/v1/sessions/${seg(sessionId)}`);
  }

  messages(sessionId: string): Promise<MessageOut[]> {
    return this.http.json("GET", `/v1/sessions/${seg(sessionId)}/messages`);
  }

  rename(sessionId: string, title: string): Promise<SessionInfo> {
    return this.http.json("PATCH", `/v1/sessions/${seg(sessionId)}`, { json: { title } });
  }

  async delete(sessionId: string): Promise<void> {
    await this.http.request("DELETE", `/v1/sessions/${seg(sessionId)}`);
  }

  export(sessionId: string, format: "md" | "json" = "md"): Promise<SessionExport> {
    return this.http.json("GET", `/v1/sessions/${seg(sessionId)}/export`, { query: { format } });
  }
}

class Memory {
  constructor(private readonly http: Http) {}

  list(opts: { kind?: string | null; limit?: number | null } = {}): Promise<MemoryItem[]> {
    return this.http.json("GET", "/v1/memory", { query: { kind: opts.kind, limit: opts.limit } });
  }

  search(q: string, opts: { kind?: string | null; limit?: number | null } = {}): Promise<MemoryItem[]> {
    return this.http.json("GET", "/v1/memory/search", { query: { q, kind: opts.kind, limit: opts.limit } });
  }

  add(text: string, opts: { kind?: string; replaces?: string[] | null } = {}): Promise<MemoryItem> {
    const body: Record<string, unknown> = { text, kind: opts.kind ?? "fact" };
    if (opts.replaces) body.replaces = opts.replaces;
    return this.http.json("POST", "/v1/memory", { json: body });
  }

  get(memoryId: string): Promise<MemoryItem> {
    return this.http.json("GET", `/v1/memory/${seg(memoryId)}`);
  }

  async forget(memoryId: string): Promise<void> {
    await this.http.request("DELETE", `/v1/memory/${seg(memoryId)}`);
  }
}

class Media {
  constructor(private readonly http: Http) {}

  /** Uploads a file once (multipart `POST /v1/media`); name it in chat attachments by its `id`. */
  upload(data: UploadData, opts: { name?: string | null; mediaType?: string | null } = {}): Promise<MediaRef> {
    const blob = data instanceof Blob ? data : new Blob([data as BlobPart]);
    const fileName = opts.name ?? ((data as { name?: unknown }).name as string | undefined) ?? "upload";
    const form = new FormData();
    form.append("file", blob, fileName);
    const claimed = opts.mediaType ?? (data instanceof Blob && data.type ? data.type : null);
    if (claimed) form.append("media_type", claimed);
    return this.http.json("POST", "/v1/media", { body: form });
  }

  /** The file's reference: `id`, `media_type`, `size`, `name`, `meta`. */
  info(mediaId: string): Promise<MediaRef> {
    return this.http.json("GET", `/v1/media/${seg(mediaId)}/info`);
  }

  /** The file's bytes. */
  async download(mediaId: string): Promise<Uint8Array> {
    const res = await this.http.request("GET", `/v1/media/${seg(mediaId)}`);
    return new Uint8Array(await res.arrayBuffer());
  }

  async delete(mediaId: string): Promise<void> {
    await this.http.request("DELETE", `/v1/media/${seg(mediaId)}`);
  }

  /** How much media the caller stores, its quota and the largest upload. */
  usage(): Promise<MediaUsage> {
    return this.http.json("GET", "/v1/media");
  }
}

class Keys {
  constructor(private readonly http: Http) {}

  /** Every key (admin keys only): ids, roles, users; never secrets. */
  list(): Promise<KeyInfo[]> {
    return this.http.json("GET", "/v1/keys");
  }

  /** A new key (admin keys only); its secret `key` is in this answer only. */
  create(
    opts: { role?: "user" | "admin"; userId?: string | null; scopes?: string[] | null; label?: string | null } = {},
  ): Promise<CreatedKey> {
    const body: Record<string, unknown> = { role: opts.role ?? "user" };
    if (opts.userId != null) body.user_id = opts.userId;
    if (opts.scopes != null) body.scopes = opts.scopes;
    if (opts.label != null) body.label = opts.label;
    return this.http.json("POST", "/v1/keys", { json: body });
  }

  async revoke(keyId: string): Promise<void> {
    await this.http.request("DELETE", `/v1/keys/${seg(keyId)}`);
  }
}

class Runs {
  constructor(
    private readonly http: Http,
    private readonly onNotice?: (message: string) => void,
  ) {}

  /** Cancels a running turn (yours, or anyone's with an admin key). */
  async cancel(runId: string): Promise<void> {
    await this.http.request("POST", `/v1/runs/${seg(runId)}/cancel`);
  }

  /**
   * A run's events after event `after` (0: from the start) to its end, while it
   * runs and for an hour after; the stream is resumed when it breaks.
   */
  async *events(runId: string, opts: { after?: number; signal?: AbortSignal } = {}): AsyncGenerator<MuxiEvent, void, undefined> {
    const ctl = new AbortController();
    const onAbort = () => ctl.abort(opts.signal?.reason);
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      yield* followRun({
        http: this.http,
        runId,
        sessionId: "",
        response: null,
        state: { lastId: opts.after ?? 0, resumed: 0 },
        signal: ctl.signal,
        onNotice: this.onNotice,
        firstOpenFails: true,
      });
    } finally {
      opts.signal?.removeEventListener("abort", onAbort);
      ctl.abort();
    }
  }
}
