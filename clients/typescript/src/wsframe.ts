// The WebSocket's frames and what this client needs of a socket (ws.ts uses them).

import { errorFromBody, type ErrorBody, type MuxiApiError, STATUS_BY_CODE } from "./errors.js";

/** What this client needs of a WebSocket (the platform's, or e.g. the `ws` package's). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: any) => void): void;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** A JSON frame: a control frame (`ready`, `done`, `error`, ...) or an event (with `seq`). */
export type Frame = { type: string; [field: string]: unknown };

/** The server's control frames; every other frame with a `run_id` is an event (`usage` has no dot). */
const CONTROL = new Set(["ready", "done", "error", "pong", "media.stored"]);
export const isEventFrame = (f: Frame): boolean => !CONTROL.has(f.type) && typeof f.run_id === "string";

/** The error of an `error` frame (its code gives the status an HTTP answer would have had). */
export function errorFromFrame(frame: Frame): MuxiApiError {
  const error = (frame.error ?? {}) as ErrorBody;
  const code = typeof error.code === "string" ? error.code : "error";
  return errorFromBody(STATUS_BY_CODE[code] ?? 0, error, { body: frame });
}

export function text(data: unknown): string | null {
  if (typeof data === "string") return data;
  if (data instanceof ArrayBuffer) return new TextDecoder().decode(data);
  if (ArrayBuffer.isView(data)) return new TextDecoder().decode(data);
  return null; // a Blob: the server sends no binary frames to clients
}
