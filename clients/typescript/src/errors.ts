// Typed errors of the muxi API. The server answers every failure with
// `{"error": {"code", "message", "hint"}}` and a fitting status; the class
// follows the `code` first (it is more precise: a 403 may be `forbidden` or
// `missing_scope`) and the status second, as the Python client does.

import { UNSUPPORTED_API_VERSION } from "./version.js";

/** The `error` object of a failed answer, an `error` WebSocket frame or a `run.failed` event. */
export interface ErrorBody {
  code?: string;
  message?: string;
  hint?: string | null;
  scope?: string;
  [field: string]: unknown;
}

export interface MuxiApiErrorInit {
  status: number;
  code: string;
  message: string;
  hint?: string | null;
  retryAfter?: number | null;
  scope?: string | null;
  body?: unknown;
  cause?: unknown;
}

/** A request the server refused, or that got no answer (`status` 0). */
export class MuxiApiError extends Error {
  /** The HTTP status (0: no answer, or a refusal over the WebSocket). */
  readonly status: number;
  /** The server's error code (`not_found`, `missing_scope`, ...). */
  readonly code: string;
  /** What to do about it, when the server said. */
  readonly hint: string | null;
  /** Seconds to wait before trying again (`Retry-After`), for 429 and 503. */
  readonly retryAfter: number | null;
  /** The missing scope of a `missing_scope` refusal. */
  readonly scope: string | null;
  /** The parsed answer body (or frame), for fields this class does not name. */
  readonly body: unknown;

  constructor(init: MuxiApiErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = new.target.name;
    this.status = init.status;
    this.code = init.code;
    this.hint = init.hint ?? null;
    this.retryAfter = init.retryAfter ?? null;
    this.scope = init.scope ?? null;
    this.body = init.body;
  }
}

/** 400: the request was malformed or asked for something impossible. */
export class BadRequest extends MuxiApiError {}
/** 401: no key, an unknown or a revoked one. */
export class Unauthorized extends MuxiApiError {}
/** 403: the key may not do this. */
export class Forbidden extends MuxiApiError {}
/** 403 `missing_scope`: the key lacks `scope`. */
export class MissingScope extends Forbidden {}
/** 404: not found, or not yours (the server does not tell them apart). */
export class NotFound extends MuxiApiError {}
/** 413: the body or the upload is too large (`payload_too_large`, `media_too_large`). */
export class PayloadTooLarge extends MuxiApiError {}
/** 429: rate limited; `retryAfter` says for how long. */
export class RateLimited extends MuxiApiError {}
/** 503: the server is draining, or a part of it does not answer. */
export class Unavailable extends MuxiApiError {}
/** 409 `turn_starting`: a repeat of a turn start the server still starts; the same key works after `retryAfter` (retried by the client). */
export class TurnStarting extends MuxiApiError {}
/** The server speaks another major version of the API. */
export class UnsupportedApiVersion extends MuxiApiError {}
/** No answer at all: the server cannot be reached, or the connection broke. */
export class ConnectionFailed extends MuxiApiError {}
/** The client was closed (`close()`): any later call is refused instead of opening new connections. */
export class ClientClosed extends MuxiApiError {}

/** The error of a call on a closed client (`status` 0, code `client_closed`). */
export function clientClosed(message = "this muxi client is closed"): ClientClosed {
  return new ClientClosed({
    status: 0,
    code: "client_closed",
    message,
    hint: "make a new MuxiClient; a closed one cannot be used again",
  });
}

type ErrorClass = new (init: MuxiApiErrorInit) => MuxiApiError;

const BY_CODE: Record<string, ErrorClass> = {
  [UNSUPPORTED_API_VERSION]: UnsupportedApiVersion,
  connection_failed: ConnectionFailed,
  client_closed: ClientClosed,
  bad_request: BadRequest,
  usage_error: BadRequest,
  config_error: BadRequest,
  validation_error: BadRequest,
  unauthorized: Unauthorized,
  forbidden: Forbidden,
  missing_scope: MissingScope,
  not_found: NotFound,
  payload_too_large: PayloadTooLarge,
  media_too_large: PayloadTooLarge,
  rate_limited: RateLimited,
  shutting_down: Unavailable,
  replica_unreachable: Unavailable,
  database_unavailable: Unavailable,
  busy: Unavailable,
  turn_starting: TurnStarting,
};

const BY_STATUS: Record<number, ErrorClass> = {
  400: BadRequest,
  401: Unauthorized,
  403: Forbidden,
  404: NotFound,
  413: PayloadTooLarge,
  422: BadRequest, // `bad_media`: bytes the server cannot read, or not of the claimed type
  429: RateLimited,
  503: Unavailable,
};

/** The HTTP status a code stands for, where an error carries none (a WebSocket `error` frame). */
export const STATUS_BY_CODE: Record<string, number> = {
  bad_request: 400,
  usage_error: 400,
  config_error: 400,
  [UNSUPPORTED_API_VERSION]: 400,
  unauthorized: 401,
  forbidden: 403,
  missing_scope: 403,
  tool_denied: 403,
  not_found: 404,
  request_timeout: 408,
  payload_too_large: 413,
  media_too_large: 413,
  bad_media: 422,
  rate_limited: 429,
  turn_starting: 409,
  idempotency_conflict: 409,
  shutting_down: 503,
  replica_unreachable: 503,
  database_unavailable: 503,
};

/** The class of an error with this `code` and `status`: the code first, then the status. */
export function errorClassFor(code: string, status: number): ErrorClass {
  return BY_CODE[code] ?? BY_STATUS[status] ?? MuxiApiError;
}

/** `Retry-After` as seconds: a number of seconds, or an HTTP date. */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | null {
  if (value == null || value.trim() === "") return null;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}

/** The error of an `{"error": {...}}` object (an answer body or a WebSocket frame). */
export function errorFromBody(
  status: number,
  error: ErrorBody | null | undefined,
  extra: { retryAfter?: number | null; body?: unknown; fallback?: string } = {},
): MuxiApiError {
  const code = typeof error?.code === "string" && error.code ? error.code : defaultCode(status);
  const message =
    typeof error?.message === "string" && error.message
      ? error.message
      : extra.fallback ?? (status ? `the server answered ${status}` : "the request failed");
  const hint = typeof error?.hint === "string" ? error.hint : null;
  const scope = typeof error?.scope === "string" ? error.scope : null;
  const Klass = errorClassFor(code, status);
  return new Klass({ status, code, message, hint, scope, retryAfter: extra.retryAfter ?? null, body: extra.body ?? error });
}

/** The error behind a failed HTTP answer, from its status, headers and body text. */
export function errorFromResponse(status: number, headers: Headers | null, text: string): MuxiApiError {
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  const error =
    parsed && typeof parsed === "object" && "error" in parsed && typeof (parsed as { error: unknown }).error === "object"
      ? ((parsed as { error: ErrorBody }).error ?? undefined)
      : undefined;
  const snippet = text.trim().slice(0, 200);
  return errorFromBody(status, error, {
    retryAfter: parseRetryAfter(headers?.get("retry-after")),
    body: parsed ?? text,
    fallback: snippet ? `the server answered ${status}: ${snippet}` : `the server answered ${status}`,
  });
}

/** A request that got no answer. */
export function connectionFailed(url: string, cause: unknown): ConnectionFailed {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new ConnectionFailed({
    status: 0,
    code: "connection_failed",
    message: `could not reach the muxi server at ${url}: ${why}`,
    hint: "check the URL and that `muxi serve` is running",
    cause,
  });
}

function defaultCode(status: number): string {
  switch (status) {
    case 400:
      return "bad_request";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 413:
      return "payload_too_large";
    case 429:
      return "rate_limited";
    case 502:
      return "bad_gateway";
    case 503:
      return "unavailable";
    case 504:
      return "gateway_timeout";
    case 0:
      return "connection_failed";
    default:
      return "error";
  }
}
