// A running turn, whatever carries it (SSE or the WebSocket): its ids, its
// events (an async iterable; each event is handed out once), the approvals it
// waits for, and its summary once it is over. The transports only supply the
// event source and the ways to steer the run.

import { clientClosed, type ErrorBody } from "./errors.js";
import type { KnownEvent } from "./generated.js";

/** An event of a turn. Types this client does not know pass through untouched (check `type`). */
export type MuxiEvent = KnownEvent;

export type ApprovalDecision = "allow" | "always" | "deny";
/** The answer to an MCP server's question (an `elicitation.requested` event). */
export type ElicitationAction = "accept" | "decline" | "cancel";
/**
 * How a turn ended: its closing event said `completed`, `failed` or `cancelled`;
 * `incomplete` when no closing event was read (the turn was closed or aborted
 * before its end, so what became of it is not known here). A stream lost for
 * good is not incomplete: it ends with a made-up `run.failed` (`connection_failed`).
 */
export type TurnStatus = "completed" | "failed" | "cancelled" | "incomplete";

/** The token and cost totals of a turn, every model call counted once (delegates' too). */
export interface TurnUsage {
  model: string | null;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number | null;
  unknown?: true;
  unpriced?: true;
  by_model: Record<string, { input_tokens: number; output_tokens: number; cost_usd: number | null }>;
}

/** One tool call of a turn and what became of it. */
export interface TurnToolCall {
  call_id: string;
  run_id: string;
  server: string;
  tool: string;
  arguments: Record<string, unknown>;
  decision: string | null;
  approval_by: string | null;
  ok: boolean | null;
  content: string | null;
  duration_ms: number | null;
}

/** A whole turn, folded from its events. */
export interface TurnResult {
  runId: string;
  sessionId: string;
  agent: string | null;
  reply: string;
  status: TurnStatus;
  /** The `run.failed` error (`code`, `message`, `hint`); null when it completed or is incomplete. */
  error: ErrorBody | null;
  usage: TurnUsage;
  toolCalls: TurnToolCall[];
  events: MuxiEvent[];
}

/** A tool call waiting for a decision: the run id of its `tool.approval` event and its call id. */
export interface PendingCall {
  runId: string;
  callId: string;
}

const nested = (e: { parent_run_id?: unknown }): boolean => typeof e.parent_run_id === "string" && e.parent_run_id !== "";

/** The event that ends a turn: its own (not a delegate's) `run.completed` or `run.failed`. */
export function isTerminal(e: { type: string; parent_run_id?: unknown }): boolean {
  return (e.type === "run.completed" || e.type === "run.failed") && !nested(e);
}

/** The `run.failed` a client makes up when it lost a turn's stream for good. */
export function lostEvent(runId: string, sessionId: string, why: string): MuxiEvent {
  return {
    v: 2,
    type: "run.failed",
    run_id: runId,
    session_id: sessionId,
    ts: new Date().toISOString(),
    error: {
      code: "connection_failed",
      message: `lost the connection to the muxi server during the turn: ${why}`,
      hint: "what the agent said so far is saved in the session on the server",
    },
  } as unknown as MuxiEvent;
}

/** Decodes one event's JSON (null for anything that is not an event object). */
export function decodeEvent(data: string): MuxiEvent | null {
  let obj: unknown;
  try {
    obj = JSON.parse(data);
  } catch {
    return null;
  }
  if (!obj || typeof obj !== "object" || Array.isArray(obj) || typeof (obj as { type?: unknown }).type !== "string") {
    return null;
  }
  return obj as MuxiEvent;
}

/**
 * Folds a turn's events into its summary (the same rules as the server's
 * non-streaming answer and the Python client: no closing event is `incomplete`).
 */
export function summarize(events: readonly MuxiEvent[], runId = "", sessionId = ""): TurnResult {
  let agent: string | null = null;
  const deltas: string[] = [];
  let finalText: string | null = null;
  let status: TurnStatus | null = null;
  let error: ErrorBody | null = null;
  const usage: TurnUsage = { model: null, input_tokens: 0, output_tokens: 0, cost_usd: null, by_model: {} };
  const calls = new Map<string, TurnToolCall>();
  const toolCalls: TurnToolCall[] = [];
  const call = (e: Record<string, unknown>, fresh = false): TurnToolCall => {
    const k = `${String(e.run_id)}\u0000${String(e.call_id)}`;
    let c = calls.get(k);
    if (!c || (fresh && c.tool)) {
      // Providers repeat call ids across tool rounds: a second request is a new call.
      c = {
        call_id: String(e.call_id),
        run_id: String(e.run_id),
        server: "",
        tool: "",
        arguments: {},
        decision: null,
        approval_by: null,
        ok: null,
        content: null,
        duration_ms: null,
      };
      calls.set(k, c);
      toolCalls.push(c);
    }
    return c;
  };
  for (const event of events) {
    const e = event as unknown as Record<string, unknown>;
    const top = !nested(e);
    if (top && !runId && typeof e.run_id === "string") runId = e.run_id;
    if (top && typeof e.session_id === "string" && e.session_id) sessionId = e.session_id;
    switch (e.type) {
      case "run.started":
      case "agent.routed":
        if (top && typeof e.agent === "string" && e.agent) agent = e.agent;
        break;
      case "text.delta":
        if (top) deltas.push(String(e.text ?? ""));
        break;
      case "tool.requested": {
        const c = call(e, true);
        c.server = String(e.server ?? "");
        c.tool = String(e.tool ?? "");
        c.arguments = (e.arguments as Record<string, unknown>) ?? {};
        break;
      }
      case "sampling.requested": {
        // Decided like a call (a tool.approval of its sampling id): listed as SERVER/sampling.
        const c = call({ ...e, call_id: e.sampling_id }, true);
        c.server = String(e.server ?? "");
        c.tool = "sampling";
        c.arguments = { model: e.model ?? "", messages: e.messages ?? [] };
        break;
      }
      case "tool.approval": {
        const c = call(e);
        c.decision = String(e.decision);
        c.approval_by = typeof e.by === "string" ? e.by : null;
        break;
      }
      case "tool.result": {
        const c = call(e);
        c.ok = Boolean(e.ok);
        c.content = typeof e.content === "string" ? e.content : null;
        c.duration_ms = typeof e.duration_ms === "number" ? e.duration_ms : null;
        break;
      }
      case "usage": {
        const tin = Number(e.input_tokens ?? 0) || 0;
        const tout = Number(e.output_tokens ?? 0) || 0;
        const cost = typeof e.cost_usd === "number" ? e.cost_usd : null;
        usage.input_tokens += tin;
        usage.output_tokens += tout;
        if (e.unknown === true) usage.unknown = true;
        if (cost !== null) usage.cost_usd = (usage.cost_usd ?? 0) + cost;
        else if (tin || tout) usage.unpriced = true;
        if (typeof e.model === "string" && e.model) {
          const per = (usage.by_model[e.model] ??= { input_tokens: 0, output_tokens: 0, cost_usd: null });
          per.input_tokens += tin;
          per.output_tokens += tout;
          if (cost !== null) per.cost_usd = (per.cost_usd ?? 0) + cost;
          if (top) usage.model = e.model;
        }
        break;
      }
      case "run.completed":
        if (top) {
          status = "completed";
          finalText = typeof e.text === "string" ? e.text : null;
        }
        break;
      case "run.failed":
        if (top) {
          error = (e.error as ErrorBody) ?? {};
          status = error.code === "cancelled" ? "cancelled" : "failed";
        }
        break;
      default:
        break;
    }
  }
  return {
    runId,
    sessionId,
    agent,
    reply: finalText || deltas.join(""),
    status: status ?? "incomplete",
    error,
    usage,
    toolCalls,
    events: [...events],
  };
}

/** The handle of one running turn. Iterate it for its events, or await `result()`. */
export abstract class ChatTurn implements AsyncIterable<MuxiEvent> {
  /** The turn's run id (known when `chat()` resolves). */
  runId: string;
  /** The turn's session id (a new session's too). */
  sessionId: string;
  /** Every event read so far, in order. */
  readonly events: MuxiEvent[] = [];
  /** True once the turn's closing event was read (or it was lost for good). */
  ended = false;
  private readonly pendingCalls: PendingCall[] = [];
  private readonly pendingInputs: string[] = [];
  private source: AsyncGenerator<MuxiEvent, void, undefined> | null = null;
  private lock: Promise<unknown> = Promise.resolve();
  protected released = false;
  /** Throws `ClientClosed` once the client that started the turn was closed (set by the client). */
  checkOpen: () => void = () => undefined;
  /** Called once the turn let go of its connection (the client forgets it then). */
  onReleased: (() => void) | null = null;
  /** The client was closed before the turn's end, and closed it. */
  private cut = false;

  protected constructor(runId: string, sessionId: string) {
    this.runId = runId;
    this.sessionId = sessionId;
  }

  /** The transport's events, to the end of the turn. */
  protected abstract stream(): AsyncGenerator<MuxiEvent, void, undefined>;
  protected abstract sendDecision(runId: string, callId: string, decision: ApprovalDecision): Promise<void>;
  protected abstract sendCancel(): Promise<void>;
  protected abstract sendElicitation(
    elicitationId: string,
    action: ElicitationAction,
    content?: Record<string, unknown>,
  ): Promise<void>;
  /** Lets go of the transport; `unfinished`: the turn had not ended (cancel it on the server). */
  protected abstract release(unfinished: boolean): Promise<void>;

  /** The next event, or null at the end. Concurrent readers each get different events. */
  next(): Promise<MuxiEvent | null> {
    const run = this.lock.then(async () => {
      if (this.cut) throw clientClosed("this turn was closed with its client before its end");
      if (this.ended && this.source === null) return null;
      this.checkOpen();
      this.source ??= this.stream();
      const r = await this.source.next();
      if (r.done) {
        this.ended = true;
        await this.letGo(false);
        return null;
      }
      const event = r.value;
      this.events.push(event);
      this.observe(event);
      if (isTerminal(event)) this.ended = true;
      return event;
    });
    this.lock = run.catch(() => undefined);
    return run;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<MuxiEvent, void, undefined> {
    for (;;) {
      const event = await this.next();
      if (event === null) return;
      yield event;
    }
  }

  /** Reads the turn to its end and folds it (events already read are included). */
  async result(): Promise<TurnResult> {
    while ((await this.next()) !== null) {
      // drain
    }
    return summarize(this.events, this.runId, this.sessionId);
  }

  /** The tool calls waiting for a decision, as seen in the events read so far. */
  pending(): PendingCall[] {
    return [...this.pendingCalls];
  }

  /**
   * Answers a pending tool call. `runId` defaults to the run of the pending call
   * named `callId` (a delegate's call has its own run), else the turn's.
   */
  async approve(callId: string, decision: ApprovalDecision = "allow", runId?: string): Promise<void> {
    this.checkOpen();
    const run = runId ?? this.pendingCalls.find((p) => p.callId === callId)?.runId ?? this.runId;
    await this.sendDecision(run, callId, decision);
  }

  /** The elicitations waiting for an answer (their `elicitation_id`), as seen in the events read so far. */
  inputs(): string[] {
    return [...this.pendingInputs];
  }

  /**
   * Answers an `elicitation.requested` event whose `pending` is true: `accept`
   * with `content` (the requested fields), `decline` or `cancel`.
   */
  async answerElicitation(
    elicitationId: string,
    action: ElicitationAction,
    content?: Record<string, unknown>,
  ): Promise<void> {
    this.checkOpen();
    await this.sendElicitation(elicitationId, action, content);
    const i = this.pendingInputs.indexOf(elicitationId);
    if (i >= 0) this.pendingInputs.splice(i, 1);
  }

  /** Cancels the turn on the server; its stream then ends with `run.failed` (`cancelled`). */
  async cancel(): Promise<void> {
    this.checkOpen();
    if (this.ended) return;
    await this.sendCancel();
  }

  /** Stops reading. A turn that has not ended is cancelled on the server. */
  async close(): Promise<void> {
    const unfinished = !this.ended;
    this.ended = true;
    const source = this.source;
    this.source = null;
    await this.letGo(unfinished);
    await source?.return(undefined).catch(() => undefined);
  }

  /** The client is closing: the turn lets go of its connection; one not read to its end is cancelled on the server, and reading it throws `ClientClosed`. */
  async closeWithClient(): Promise<void> {
    if (!this.ended) this.cut = true;
    await this.close();
  }

  private async letGo(unfinished: boolean): Promise<void> {
    if (this.released) return;
    this.released = true;
    try {
      await this.release(unfinished);
    } finally {
      this.onReleased?.();
    }
  }

  private observe(event: MuxiEvent): void {
    if (event.type === "elicitation.requested" || event.type === "elicitation.resolved") {
      const e = event as unknown as { elicitation_id: string; pending?: boolean };
      const i = this.pendingInputs.indexOf(e.elicitation_id);
      if (event.type === "elicitation.requested" && e.pending && i < 0) this.pendingInputs.push(e.elicitation_id);
      if (event.type === "elicitation.resolved" && i >= 0) this.pendingInputs.splice(i, 1);
      return;
    }
    if (event.type !== "tool.approval") return;
    const e = event as unknown as { run_id: string; call_id: string; decision: string };
    const i = this.pendingCalls.findIndex((p) => p.runId === e.run_id && p.callId === e.call_id);
    if (e.decision === "pending") {
      if (i < 0) this.pendingCalls.push({ runId: e.run_id, callId: e.call_id });
    } else if (i >= 0) {
      this.pendingCalls.splice(i, 1);
    }
  }
}
