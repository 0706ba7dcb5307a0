// Turns over the WebSocket (`GET /v1/ws`): one socket carries one turn at a
// time, with approvals and cancels on the same connection. Browsers cannot
// set headers on a WebSocket handshake, so the key and the API version travel
// in the first frame (`{"type": "auth", "key", "user_id", "api_version"}`)
// everywhere. A socket whose turn ended goes back to the client's pool for the
// next turn; a socket that drops mid-turn is reopened with backoff and the turn
// resumed from its last `seq`.

import { clientClosed, ClientClosed, ConnectionFailed, errorFromBody, MuxiApiError, STATUS_BY_CODE, UnsupportedApiVersion } from "./errors.js";
import { backoffMs, type Http, RETRIES, sleep, TimeoutError } from "./http.js";
import { type ApprovalDecision, ChatTurn, type ElicitationAction, isTerminal, lostEvent, type MuxiEvent } from "./turn.js";
import { turnKey } from "./turnkey.js";
import { errorFromFrame, type Frame, isEventFrame, text, type WebSocketConstructor, type WebSocketLike } from "./wsframe.js";
import { API_VERSION, compatibleApiVersion, keepsTurnKeys, UNSUPPORTED_API_VERSION } from "./version.js";

export { turnKey };
export { errorFromFrame, type Frame, isEventFrame, type WebSocketConstructor, type WebSocketLike };

/** Waits between tries to reopen a dropped socket, in ms. */
export const RECONNECT_DELAYS = [200, 500, 1000, 2000, 4000];
const OPEN = 1;


/** One authenticated socket and the frames it received. */
export class WsConnection {
  /** The `ready` frame (`key_id`, `role`, `user_id`, `version`, `api_version`). */
  ready: Frame | null = null;
  closed = false;
  closeCode = 0;
  closeReason = "";
  private readonly queue: Frame[] = [];
  private readonly waiters: Array<(frame: Frame | null) => void> = [];

  private constructor(private readonly ws: WebSocketLike) {
    ws.addEventListener("message", (ev: { data: unknown }) => {
      const raw = text(ev.data);
      if (raw === null) return;
      let frame: unknown;
      try {
        frame = JSON.parse(raw);
      } catch {
        return;
      }
      if (!frame || typeof frame !== "object" || typeof (frame as Frame).type !== "string") return;
      this.deliver(frame as Frame);
    });
    ws.addEventListener("close", (ev: { code?: number; reason?: string }) => {
      this.closed = true;
      this.closeCode = ev.code ?? 0;
      this.closeReason = ev.reason ?? "";
      for (const w of this.waiters.splice(0)) w(null);
    });
    ws.addEventListener("error", () => {
      // A close event follows; the error itself carries nothing useful.
    });
  }

  /** Opens a socket to the server behind `http`, authenticates and checks the API version. */
  static async open(http: Http, Ctor: WebSocketConstructor, timeoutMs: number): Promise<WsConnection> {
    const url = `${http.url.replace(/^http/i, "ws")}/v1/ws`;
    let ws: WebSocketLike;
    try {
      ws = new Ctor(url);
    } catch (err) {
      throw new ConnectionFailed({ status: 0, code: "connection_failed", message: `could not open ${url}: ${String(err)}`, cause: err });
    }
    const conn = new WsConnection(ws);
    const opened = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      ws.addEventListener("open", () => {
        clearTimeout(timer);
        resolve(true);
      });
      ws.addEventListener("close", () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (!opened || ws.readyState !== OPEN) {
      conn.close();
      throw new ConnectionFailed({
        status: 0,
        code: "connection_failed",
        message: `could not open a WebSocket to ${url}${conn.closeCode ? ` (closed ${conn.closeCode})` : ""}`,
        hint: "check the URL and that `muxi serve` is running",
      });
    }
    // The version goes in the frame too: a browser cannot send the header, and a
    // server of another major refuses it (error frame `ref: "version"`, close 4400).
    conn.send({ type: "auth", key: http.apiKey, user_id: http.userId, api_version: API_VERSION });
    const frame = await conn.next(timeoutMs);
    if (frame === null) {
      conn.close();
      const code =
        conn.closeCode === 4401 ? "unauthorized" : conn.closeCode === 4400 ? UNSUPPORTED_API_VERSION : "connection_failed";
      throw errorFromBody(STATUS_BY_CODE[code] ?? 0, { code, message: `the server closed the WebSocket (${conn.closeCode || "no answer"})` });
    }
    if (frame.type === "error") {
      conn.close();
      throw errorFromFrame(frame);
    }
    if (frame.type !== "ready") {
      conn.close();
      throw new MuxiApiError({ status: 0, code: "error", message: `unexpected first frame ${JSON.stringify(frame.type)}` });
    }
    const version = frame.api_version;
    if (typeof version === "string" && !compatibleApiVersion(version)) {
      conn.close();
      throw new UnsupportedApiVersion({
        status: 0,
        code: UNSUPPORTED_API_VERSION,
        message: `this client speaks muxi API ${API_VERSION}; the server's WebSocket speaks ${version}`,
      });
    }
    conn.ready = frame;
    return conn;
  }

  get open(): boolean {
    return !this.closed && this.ws.readyState === OPEN;
  }

  send(frame: Record<string, unknown>): void {
    if (!this.open) {
      throw new ConnectionFailed({ status: 0, code: "connection_failed", message: "the WebSocket to the muxi server is closed" });
    }
    this.ws.send(JSON.stringify(frame));
  }

  /** The next frame; null once the socket closed (or after `timeoutMs`). */
  next(timeoutMs = 0): Promise<Frame | null> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | null = null;
      const waiter = (frame: Frame | null) => {
        if (timer) clearTimeout(timer);
        resolve(frame);
      };
      this.waiters.push(waiter);
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          resolve(null);
        }, timeoutMs);
      }
    });
  }

  close(code = 1000): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w(null);
    try {
      this.ws.close(code);
    } catch {
      // already closing
    }
  }

  private deliver(frame: Frame): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(frame);
    else this.queue.push(frame);
  }
}

/** The client's sockets: one kept idle between turns, more opened for turns at the same time. */
export class WsPool {
  private idle: WsConnection | null = null;
  /** Set by `close()`: no socket is opened any more (`ClientClosed`). */
  closed = false;

  constructor(
    readonly http: Http,
    private readonly Ctor: () => WebSocketConstructor,
    readonly timeoutMs: number,
    readonly onNotice?: (message: string) => void,
  ) {}

  open(): Promise<WsConnection> {
    if (this.closed) return Promise.reject(clientClosed());
    return WsConnection.open(this.http, this.Ctor(), this.timeoutMs);
  }

  /** An open socket: the idle one (`reused`), else a new one. */
  async acquire(): Promise<{ conn: WsConnection; reused: boolean }> {
    const idle = this.idle;
    this.idle = null;
    if (idle?.open) return { conn: idle, reused: true };
    return { conn: await this.open(), reused: false };
  }

  release(conn: WsConnection): void {
    if (conn.open && this.idle === null && !this.closed) this.idle = conn;
    else conn.close();
  }

  close(): void {
    this.closed = true;
    this.idle?.close();
    this.idle = null;
  }
}

/** A turn over the WebSocket. */
export class WsTurn extends ChatTurn {
  /** The `seq` of the last event read. */
  lastSeq = 0;
  /** How many times the socket was reopened and the turn resumed. */
  resumed = 0;
  /** `error` frames the server sent during the turn for an `approve` or `cancel` frame. */
  readonly frameErrors: MuxiApiError[] = [];
  private sawDone = false;

  private constructor(
    private readonly pool: WsPool,
    private conn: WsConnection,
    private first: Frame,
  ) {
    super(String(first.run_id ?? ""), String(first.session_id ?? ""));
  }

  /**
   * Sends the chat frame; resolves once the turn's first event came (its ids are known).
   * `key` (idempotency) goes with every send: a resend the server already read attaches to that turn.
   */
  static async start(pool: WsPool, request: Record<string, unknown>, key: string = turnKey()): Promise<WsTurn> {
    let lost = 0;
    const again = async (): Promise<boolean> => lost < RETRIES && !pool.closed && (await sleep(backoffMs(lost++)), true);
    for (let attempt = 0; ; attempt++) {
      let acquired: Awaited<ReturnType<WsPool["acquire"]>>;
      try {
        acquired = await pool.acquire();
      } catch (err) {
        // No socket (refused, reset in the handshake): nothing was sent yet.
        if (err instanceof ConnectionFailed && err.code === "connection_failed" && (await again())) continue;
        throw err;
      }
      const { conn, reused } = acquired;
      let frame: Frame | null = null;
      let sent = false;
      // Bounded like a request: a server that never answers the frame is an error, not a hang.
      const deadline = pool.timeoutMs > 0 ? Date.now() + pool.timeoutMs : Infinity;
      try {
        conn.send({ type: "chat", request, idempotency_key: key });
        sent = true;
        for (;;) {
          frame = await conn.next(deadline === Infinity ? 0 : Math.max(1, deadline - Date.now()));
          if (frame === null || isEventFrame(frame) || frame.type === "error" || frame.type === "done") break;
        }
      } catch (err) {
        frame = null;
        if (!reused) throw err;
      }
      if (frame === null && !conn.closed && sent) {
        conn.close();
        const timeout = new TimeoutError(pool.timeoutMs);
        throw new ConnectionFailed({
          status: 0,
          code: "connection_failed",
          message: `the server did not start the turn: ${timeout.message}`,
          hint: "is the server overloaded? the turn may still run: its session shows it",
          cause: timeout,
        });
      }
      if (frame === null) {
        conn.close();
        // A kept socket the server dropped meanwhile (it restarted): once more on a
        // new one, when the frame never went or the server keeps keys (1.2+).
        if (reused && attempt === 0 && (!sent || keepsTurnKeys(conn.ready?.api_version))) continue;
        // Closed after the frame went: the server may have read it; its key attaches a resend (1.2+).
        if (keepsTurnKeys(conn.ready?.api_version) && (await again())) continue;
        throw new ConnectionFailed({ status: 0, code: "connection_failed", message: "the WebSocket closed before the turn started" });
      }
      if (frame.type === "error") {
        // A refused chat frame is followed by a `done`; read it, so that the
        // socket's next turn does not take it for its own end.
        const after = await conn.next(2000);
        if (after?.type === "done") pool.release(conn);
        else conn.close();
        throw errorFromFrame(frame);
      }
      if (frame.type === "done") {
        pool.release(conn);
        throw new MuxiApiError({ status: 0, code: "error", message: "the server ended the turn before it started" });
      }
      return new WsTurn(pool, conn, frame);
    }
  }

  protected async *stream(): AsyncGenerator<MuxiEvent, void, undefined> {
    let terminal = false;
    let lost = "";
    const first = this.first;
    let frame: Frame | null = first;
    for (;;) {
      if (frame === null) frame = await this.conn.next();
      if (frame === null) {
        // The socket dropped: reopen it and resume the run after its last event.
        if (this.sawDone || terminal) return;
        const why = `the WebSocket closed (${this.conn.closeCode || "no code"})`;
        if (!(await this.reconnect(why))) {
          lost = why;
          break;
        }
        continue;
      }
      const f: Frame = frame;
      frame = null;
      if (f.type === "done") {
        this.sawDone = true;
        if (!terminal) lost = "the server ended the turn's stream before its end";
        break;
      }
      if (f.type === "error") {
        const err = errorFromFrame(f);
        if (f.ref === "resume") lost = err.message;
        else this.frameErrors.push(err);
        this.pool.onNotice?.(`the server refused a ${String(f.ref ?? "")} frame: ${err.message}`);
        continue;
      }
      if (!isEventFrame(f)) continue; // pong and other control frames
      const { seq, ...rest } = f;
      if (typeof seq === "number") {
        if (seq <= this.lastSeq) continue; // a resumed stream's overlap
        this.lastSeq = seq;
      }
      const event = rest as unknown as MuxiEvent;
      if (isTerminal(event)) terminal = true;
      yield event;
    }
    if (!terminal) yield lostEvent(this.runId, this.sessionId, lost || "the WebSocket closed");
  }

  private async reconnect(why: string): Promise<boolean> {
    this.pool.onNotice?.(`${why}; reconnecting`);
    for (const delay of RECONNECT_DELAYS) {
      await sleep(delay);
      if (this.released) return false;
      try {
        const conn = await this.pool.open();
        conn.send({ type: "resume", run_id: this.runId, after: this.lastSeq });
        this.conn = conn;
        this.resumed++;
        return true;
      } catch (err) {
        if (err instanceof ClientClosed) return false;
        if (err instanceof MuxiApiError && err.status !== 0 && err.status !== 503) return false; // refused, not unreachable
      }
    }
    return false;
  }

  protected async sendDecision(runId: string, callId: string, decision: ApprovalDecision): Promise<void> {
    this.conn.send({ type: "approve", run_id: runId, call_id: callId, decision });
  }

  protected async sendCancel(): Promise<void> {
    this.conn.send({ type: "cancel", run_id: this.runId });
  }

  protected async sendElicitation(
    elicitationId: string,
    action: ElicitationAction,
    content?: Record<string, unknown>,
  ): Promise<void> {
    this.conn.send({ type: "elicit", elicitation_id: elicitationId, action, ...(content ? { content } : {}) });
  }

  protected async release(unfinished: boolean): Promise<void> {
    if (unfinished) {
      // Closing the socket cancels its turn on the server; the cancel frame says it first.
      try {
        this.conn.send({ type: "cancel", run_id: this.runId });
      } catch {
        // already closed
      }
      this.conn.close();
    } else if (this.sawDone) {
      this.pool.release(this.conn);
    } else {
      this.conn.close(); // its `done` frame is still to come: not reusable as is
    }
  }
}
