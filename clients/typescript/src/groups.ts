// The resource groups of `MuxiClient`: sessions, memory, media, keys, runs and
// MCP logins. Each method is one request of the HTTP API (docs/server.md) and
// answers its JSON, typed from `docs/api/` where the server describes it.

import type { MediaRef, MemoryItem, MessageOut, ServerInfo, SessionInfo } from "./generated.js";
import type { Http } from "./http.js";
import { seg } from "./http.js";
import { followRun } from "./sse.js";
import type { MuxiEvent } from "./turn.js";

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

/** `mcp.loginStatus()`: the caller's OAuth state for one MCP server. */
export interface McpLoginStatus {
  server: string;
  /** `oauth: signed in`, `oauth: expired, will refresh`, `oauth: not signed in`. */
  auth: string | null;
  /** `pending`, `signed in`, `failed: ...`, or null when no login was started. */
  login: string | null;
  [field: string]: unknown;
}

/** `mcp.completeLogin()`: how the pasted-back login ended. */
export interface McpLoginDone {
  server: string;
  /** `signed in` or `failed: ...`. */
  login: string;
  auth: string | null;
  [field: string]: unknown;
}

/** A file to upload: bytes, or a `Blob`/`File` (whose name and type are the defaults). */
export type UploadData = Blob | Uint8Array | ArrayBuffer;

export class Sessions {
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

export class Memory {
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

export class Media {
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

export class Keys {
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

export class Runs {
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

export class Mcp {
  constructor(private readonly http: Http) {}

  /** The MCP servers the key may use; each OAuth one has its `auth` for the caller. */
  servers(): Promise<ServerInfo[]> {
    return this.http.json("GET", "/v1/mcp/servers");
  }

  /**
   * Starts the caller's OAuth login to MCP server `name`: resolves to the
   * authorization URL to open in a browser, which comes back to the server
   * (then `loginStatus(name).login` is `signed in`).
   */
  async login(name: string): Promise<string> {
    const started = await this.http.json<{ authorization_url: string }>("POST", `/v1/mcp/servers/${seg(name)}/login`);
    return String(started.authorization_url);
  }

  /** The paste-back: finishes the login with the address the browser ended on (`BadRequest` if none waits for it). */
  completeLogin(name: string, redirect: string): Promise<McpLoginDone> {
    return this.http.json("POST", `/v1/mcp/servers/${seg(name)}/login/complete`, { json: { redirect } });
  }

  /** The caller's `auth` and `login` state for MCP server `name`. */
  loginStatus(name: string): Promise<McpLoginStatus> {
    return this.http.json("GET", `/v1/mcp/servers/${seg(name)}/login`);
  }

  /** Forgets the caller's tokens for MCP server `name`; whether there were any. */
  async logout(name: string): Promise<boolean> {
    const done = await this.http.json<{ removed?: boolean }>("DELETE", `/v1/mcp/servers/${seg(name)}/login`);
    return Boolean(done?.removed);
  }
}
