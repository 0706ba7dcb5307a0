// @muxi/client: the muxi server API for Node 20+ and browsers.

export {
  type ChatOptions,
  type ChatRequest,
  type CreatedKey,
  type KeyInfo,
  type McpLoginDone,
  type McpLoginStatus,
  type MediaUsage,
  type Me,
  MuxiClient,
  type MuxiClientOptions,
  type SessionExport,
  type Transport,
  type UploadData,
} from "./client.js";
export {
  BadRequest,
  ClientClosed,
  ConnectionFailed,
  type ErrorBody,
  errorClassFor,
  errorFromBody,
  errorFromResponse,
  Forbidden,
  MissingScope,
  MuxiApiError,
  NotFound,
  parseRetryAfter,
  PayloadTooLarge,
  RateLimited,
  STATUS_BY_CODE,
  TurnStarting,
  Unauthorized,
  Unavailable,
  UnsupportedApiVersion,
} from "./errors.js";
export * from "./generated.js";
export {
  BACKOFF,
  backoff,
  type FetchLike,
  LOST_START,
  MAX_BACKOFF,
  MAX_RETRY_WAIT,
  RETRIES,
  RETRY_STATUS,
  retryWait,
  START_RETRIES,
} from "./http.js";
export { followRun, readSSE, type SSEMessage, SSEParser, SSETurn } from "./sse.js";
export {
  type ApprovalDecision,
  type ElicitationAction,
  ChatTurn,
  decodeEvent,
  isTerminal,
  type MuxiEvent,
  type PendingCall,
  summarize,
  type TurnResult,
  type TurnStatus,
  type TurnToolCall,
  type TurnUsage,
} from "./turn.js";
export { type Frame, type WebSocketConstructor, type WebSocketLike, WsTurn } from "./ws.js";
export {
  API_MAJOR,
  API_VERSION,
  API_VERSION_HEADER,
  CLIENT_VERSION,
  compatibleApiVersion,
  parseApiVersion,
  UNSUPPORTED_API_VERSION,
} from "./version.js";
