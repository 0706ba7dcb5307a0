// Compiled (not run) by types.test.mjs: what a TypeScript user writes must
// type-check against the published declarations, narrowing included.

import {
  API_VERSION,
  type ChatTurn,
  type KnownEvent,
  MissingScope,
  MuxiApiError,
  MuxiClient,
  type MuxiEvent,
  type SessionInfo,
  type TurnResult,
} from "../dist/index.js";

export async function usage(): Promise<string> {
  const client = new MuxiClient({ url: "http://127.0.0.1:8765", apiKey: "muxi_x", timeoutMs: 1000 });
  const turn: ChatTurn = await client.chat({ message: "hi", approval: "interactive", title: null });
  let text = "";
  for await (const event of turn) {
    switch (event.type) {
      case "text.delta":
        text += event.text; // narrowed to TextDelta
        break;
      case "tool.approval":
        if (event.decision === "pending") await turn.approve(event.call_id, "allow", event.run_id);
        break;
      case "usage":
        text += String(event.input_tokens + event.output_tokens);
        break;
      case "run.failed":
        text += String(event.error.code);
        break;
      default:
        break;
    }
  }
  const result: TurnResult = await turn.result();
  const sessions: SessionInfo[] = await client.sessions.list({ limit: 5 });
  const e: MuxiEvent = result.events[0] as KnownEvent;
  try {
    await client.keys.create({ role: "user", userId: "bob", scopes: ["agent:support"] });
  } catch (err) {
    if (err instanceof MissingScope) text += err.scope ?? "";
    else if (err instanceof MuxiApiError) text += `${err.status} ${err.code} ${err.retryAfter ?? ""}`;
  }
  const bytes: Uint8Array = await client.media.download("id");
  client.close();
  return `${API_VERSION} ${text} ${result.reply} ${sessions.length} ${e.type} ${bytes.length}`;
}
