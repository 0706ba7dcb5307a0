// `MuxiClient`: the muxi server API for scripts, services and browsers. Plain
// calls are `fetch` requests; a turn streams over SSE (`POST /v1/chat`), or
// over the WebSocket when it asks for interactive approval (approvals and
// cancel then travel on the same socket). Nothing but the platform's `fetch`,
// streams and `WebSocket` is used, so it runs in Node 20+ and browsers alike.

import { clientClosed, ConnectionFailed } from "./errors.js";
import type { AgentInfo, ChatBody, Health } from "./generated.js";
import { Keys, Mcp, Media, Memory, Runs, Sessions } from "./groups.js";
import { type FetchLike, Http } from "./http.js";
import { SSETurn } from "./sse.js";
import type { ChatTurn } from "./turn.js";
import { turnKey, type WebSocketConstructor, WsPool, WsTurn } from "./ws.js";

export type {
  CreatedKey,
  KeyInfo,
  McpLoginDone,
  McpLoginStatus,
  MediaUsage,
  SessionExport,
  UploadData,
} from "./groups.js";

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

export class MuxiClient {
  readonly url: string;
  readonly http: Http;
  readonly sessions: Sessions;
  readonly memory: Memory;
  readonly media: Media;
  readonly keys: Keys;
  readonly runs: Runs;
  readonly mcp: Mcp;
  private readonly pool: WsPool;
  /** The turns started here and not yet let go of, closed with the client. */
  private readonly live = new Set<ChatTurn>();
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
    this.mcp = new Mcp(this.http);
  }

  /**
   * Starts a turn; resolves once the server acknowledged it (`runId` and
   * `sessionId` are known). Iterate the turn for its events or await `result()`.
   */
  async chat(request: ChatRequest | string, opts: ChatOptions = {}): Promise<ChatTurn> {
    if (this.http.closed) throw clientClosed();
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
          retryLost: true, // lost on its way: its key makes a repeat attach to the turn
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
    if (this.http.closed) {
      // close() ran while the server took this start: the turn goes with the
      // client (cancelled), or it came back live on a closed client.
      await turn.closeWithClient().catch(() => undefined);
      throw clientClosed();
    }
    this.track(turn);
    if (opts.signal?.aborted) await turn.close(); // aborted while it was being acknowledged
    return turn;
  }

  private track(turn: ChatTurn): void {
    const http = this.http;
    turn.checkOpen = () => {
      if (http.closed) throw clientClosed();
    };
    turn.onReleased = () => this.live.delete(turn);
    this.live.add(turn);
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

  /**
   * Closes the client for good: the WebSocket kept for the next turn (Node keeps
   * running while it is open) and the turns still running (an unfinished one is
   * cancelled on the server). Any later call, on the client or one of its turns,
   * throws `ClientClosed` instead of opening a new connection. Again: nothing.
   */
  async close(): Promise<void> {
    if (this.http.closed) return;
    this.http.closed = true;
    this.pool.close();
    const turns = [...this.live];
    this.live.clear();
    await Promise.all(turns.map((turn) => turn.closeWithClient().catch(() => undefined)));
  }
}
