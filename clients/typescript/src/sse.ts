// Server-sent events without EventSource: EventSource can neither POST (a chat
// turn is `POST /v1/chat`) nor set headers (the key, `Last-Event-ID`) in
// browsers, so the client reads `fetch`'s body stream and parses it here,
// following the WHATWG "event stream" rules: lines end with CRLF, LF or CR
// (a CR at the end of one chunk may pair with an LF at the start of the next),
// `:` starts a comment (the server's keep-alives), `data:` lines join with LF,
// `id:` sets the last event id, which stays until another `id:` changes it,
// and an event is dispatched at a blank line (one cut off by the end of the
// stream is dropped: its data may be incomplete).

import { ClientClosed, MuxiApiError, NotFound } from "./errors.js";
import { backoffMs, type Http, MAX_RETRY_WAIT, seg, sleep } from "./http.js";
import {
  type ApprovalDecision,
  ChatTurn,
  decodeEvent,
  type ElicitationAction,
  isTerminal,
  lostEvent,
  type MuxiEvent,
} from "./turn.js";

/** One dispatched event. */
export interface SSEMessage {
  /** The `event:` name (`"message"` when none). */
  event: string;
  /** The `data:` lines joined with `\n`. */
  data: string;
  /** The last event id (`""` when the stream set none). */
  id: string;
  /** A `retry:` reconnection time in milliseconds, when the event carried one. */
  retry?: number;
}

/** An incremental event-stream parser: feed it text, get whole events. */
export class SSEParser {
  private buffer = "";
  private started = false;
  private pendingCR = false;
  private data: string[] = [];
  private hasData = false;
  private eventName = "";
  private retry: number | undefined = undefined;
  /** The last event id seen so far (persists across events, as in the spec). */
  lastEventId = "";

  /** Parse one chunk of text; returns the events it completed. */
  push(chunk: string): SSEMessage[] {
    if (!this.started && chunk.length > 0) {
      this.started = true;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    if (this.pendingCR && chunk.startsWith("\n")) chunk = chunk.slice(1); // the LF of a CRLF split across chunks
    this.pendingCR = false;
    this.buffer += chunk;
    const out: SSEMessage[] = [];
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const line = this.buffer.slice(start, i);
      if (c === 13) {
        if (i + 1 < this.buffer.length) {
          if (this.buffer.charCodeAt(i + 1) === 10) i++;
        } else {
          this.pendingCR = true;
        }
      }
      start = i + 1;
      const message = this.line(line);
      if (message) out.push(message);
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  /** The stream ended: an event without its closing blank line is dropped. */
  end(): SSEMessage[] {
    this.buffer = "";
    this.data = [];
    this.hasData = false;
    this.eventName = "";
    this.retry = undefined;
    return [];
  }

  private line(line: string): SSEMessage | null {
    if (line === "") return this.dispatch();
    if (line.charCodeAt(0) === 58 /* ":" */) return null; // a comment (keep-alive)
    const colon = line.indexOf(":");
    let field = line;
    let value = "";
    if (colon >= 0) {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
    }
    switch (field) {
      case "data":
        this.data.push(value);
        this.hasData = true;
        break;
      case "event":
        this.eventName = value;
        break;
      case "id":
        if (!value.includes("\u0000")) this.lastEventId = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break; // unknown fields are ignored
    }
    return null;
  }

  private dispatch(): SSEMessage | null {
    const hasData = this.hasData;
    const message: SSEMessage = {
      event: this.eventName || "message",
      data: this.data.join("\n"),
      id: this.lastEventId,
    };
    if (this.retry !== undefined) message.retry = this.retry;
    this.data = [];
    this.hasData = false;
    this.eventName = "";
    this.retry = undefined;
    return hasData ? message : null;
  }
}

/** The events of a byte stream (a `fetch` response body), as they arrive. */
export async function* readSSE(
  body: ReadableStream<Uint8Array>,
  parser: SSEParser = new SSEParser(),
): AsyncGenerator<SSEMessage, void, undefined> {
  const reader = body.getReader();
  const decoder = new TextDecoder("utf-8");
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      for (const message of parser.push(decoder.decode(value, { stream: true }))) yield message;
    }
    for (const message of parser.push(decoder.decode())) yield message;
    parser.end();
  } finally {
    // Leaving early (a break, an error) cancels the body so the connection is let go.
    reader.cancel().catch(() => undefined);
    try {
      reader.releaseLock();
    } catch {
      // a read still pending (the stream errored): the lock goes with the stream
    }
  }
}

// ---- Following a run's event stream, resumed when it breaks ----

/** Tries to resume a broken stream, and the first wait between them (doubling, at most 4 s). */
export const RESUME_ATTEMPTS = 6;
const RESUME_STATUS = new Set([429, 502, 503, 504]);

export interface FollowState {
  /** The id of the last event read (0: none yet); null once the server sent an event without one. */
  lastId: number | null;
  /** How many times the stream was resumed. */
  resumed: number;
}

export interface FollowOptions {
  http: Http;
  runId: string;
  sessionId: string;
  /** The stream already open (the `POST /v1/chat` answer); null: open it from `state.lastId`. */
  response: Response | null;
  state: FollowState;
  signal: AbortSignal;
  attempts?: number;
  onNotice?: (message: string) => void;
  /** Throw the error of a first open that is refused (404, 401...) instead of ending with `run.failed`. */
  firstOpenFails?: boolean;
}

/**
 * The events of run `runId` from an SSE stream, to its closing event. When the
 * stream breaks first, `GET /v1/runs/{id}/events` with `Last-Event-ID` asks for
 * the rest, a few times with backoff (behind a load balancer another replica
 * may answer from the shared event log); events read already are skipped. A
 * server that sends no event ids (older than this client) is not asked: the
 * stream then ends with a made-up `run.failed` (`connection_failed`), as it
 * does when every try failed.
 */
export async function* followRun(opts: FollowOptions): AsyncGenerator<MuxiEvent, void, undefined> {
  const { http, runId, state, signal } = opts;
  const attempts = opts.attempts ?? RESUME_ATTEMPTS;
  let response = opts.response;
  let opened = response !== null;
  let failures = 0;
  let lost: unknown = null;
  for (;;) {
    if (response === null) {
      try {
        response = await openEvents(http, runId, state.lastId ?? 0, signal);
        if (opened) state.resumed++;
        opened = true;
      } catch (err) {
        if (signal.aborted) return;
        lost = err;
        if (opts.firstOpenFails && !opened && !(err instanceof MuxiApiError && RESUME_STATUS.has(err.status))) throw err;
        const retriable =
          err instanceof MuxiApiError &&
          !(err instanceof NotFound || err instanceof ClientClosed) &&
          (err.status === 0 || RESUME_STATUS.has(err.status));
        if (!retriable || failures >= attempts) break;
        failures++;
        const asked = err instanceof MuxiApiError && err.retryAfter != null ? Math.min(err.retryAfter, MAX_RETRY_WAIT) : null;
        await sleep(backoffMs(failures - 1, asked), signal).catch(() => undefined);
        if (signal.aborted) return;
        continue;
      }
    }
    try {
      for await (const message of readSSE(response.body ?? emptyStream())) {
        const seq = /^\d+$/.test(message.id) ? Number(message.id) : null;
        if (seq === null || state.lastId === null) {
          state.lastId = null; // no ids: this server cannot resume
        } else if (seq <= state.lastId) {
          continue; // a resumed stream's overlap
        } else {
          state.lastId = seq;
        }
        const event = decodeEvent(message.data);
        if (event === null) continue;
        failures = 0; // the stream moves again
        yield event;
        if (isTerminal(event)) return;
      }
      lost = new Error("the stream ended before the turn did");
    } catch (err) {
      if (signal.aborted) return;
      lost = err;
    }
    response = null;
    if (state.lastId === null || !runId || failures >= attempts) break;
    if (failures === 0) opts.onNotice?.(`the stream of run ${runId} broke (${why(lost)}); resuming`);
    failures++;
    await sleep(backoffMs(failures - 1), signal).catch(() => undefined);
    if (signal.aborted) return;
  }
  opts.onNotice?.(`lost the stream of run ${runId}: ${why(lost)}`);
  yield lostEvent(runId, opts.sessionId, why(lost));
}

/** `GET /v1/runs/{id}/events` after event `after`, as a stream. */
export function openEvents(http: Http, runId: string, after: number, signal?: AbortSignal): Promise<Response> {
  const headers: Record<string, string> = { accept: "text/event-stream" };
  if (after > 0) headers["last-event-id"] = String(after);
  return http.request("GET", `/v1/runs/${seg(runId)}/events`, { headers, stream: true, retry: false, signal });
}

function why(err: unknown): string {
  return err instanceof Error ? err.message : String(err ?? "unknown");
}

function emptyStream(): ReadableStream<Uint8Array> {
  return new ReadableStream({ start: (c) => c.close() });
}

/** A turn streamed over `POST /v1/chat` (SSE); approvals and cancel are plain requests. */
export class SSETurn extends ChatTurn {
  /** Where the stream stands (its last event id) and how often it was resumed. */
  readonly state: FollowState = { lastId: 0, resumed: 0 };

  constructor(
    private readonly http: Http,
    /** Aborts the turn's requests (its stream, a resume) when the turn is closed. */
    private readonly ctl: AbortController,
    private response: Response | null,
    runId: string,
    sessionId: string,
    private readonly onNotice?: (message: string) => void,
  ) {
    super(runId, sessionId);
  }

  /** A server that sends no id headers: the first event carries the ids. */
  async begin(): Promise<void> {
    if (this.runId) return;
    const first = await this.next();
    if (first === null) {
      throw new MuxiApiError({ status: 0, code: "error", message: "the server ended the turn without any event" });
    }
    this.runId = first.run_id;
    this.sessionId = first.session_id || this.sessionId;
  }

  protected stream(): AsyncGenerator<MuxiEvent, void, undefined> {
    const response = this.response;
    this.response = null;
    return followRun({
      http: this.http,
      runId: this.runId,
      sessionId: this.sessionId,
      response,
      state: this.state,
      signal: this.ctl.signal,
      onNotice: this.onNotice,
    });
  }

  protected async sendDecision(runId: string, callId: string, decision: ApprovalDecision): Promise<void> {
    await this.http.request("POST", `/v1/approvals/${seg(callId)}`, { json: { decision, run_id: runId } });
  }

  protected async sendElicitation(
    elicitationId: string,
    action: ElicitationAction,
    content?: Record<string, unknown>,
  ): Promise<void> {
    await this.http.request("POST", `/v1/elicitations/${seg(elicitationId)}`, {
      json: content ? { action, content } : { action },
    });
  }

  protected async sendCancel(): Promise<void> {
    try {
      await this.http.request("POST", `/v1/runs/${seg(this.runId)}/cancel`);
    } catch (err) {
      if (!(err instanceof NotFound)) throw err; // it ended meanwhile
    }
  }

  protected async release(unfinished: boolean): Promise<void> {
    // The connection goes at once (this aborts a stream being read or resumed).
    this.ctl.abort();
    await this.response?.body?.cancel().catch(() => undefined);
    if (unfinished && this.runId) {
      // A dropped stream would keep the turn running for the server's resume
      // grace: leaving early is a cancel, said at once.
      await this.http
        .request("POST", `/v1/runs/${seg(this.runId)}/cancel`, { timeoutMs: 5000, closing: true })
        .catch(() => undefined);
    }
  }
}
