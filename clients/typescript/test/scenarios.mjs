// The TypeScript interpreter of the client contract scenarios
// (clients/contract/scenarios.json; the format is its README). It drives
// `MuxiClient` exactly as the Python interpreter drives `AsyncClient`: one
// client per key name for the whole scenario, handlers on top-level events,
// results compared in their JSON form with the README's matchers.

import { Buffer } from "node:buffer";
import { MuxiApiError, MuxiClient } from "../dist/index.js";

// ---- values and references ----

const EXACT = /^\$\{([^}]+)\}$/;
const INNER = /\$\{([^}]+)\}/g;

function lookup(env, ref) {
  const [name, ...path] = ref.split(".");
  if (!(name in env)) throw new Error(`unknown name in \${${ref}}`);
  let value = env[name];
  for (const part of path) {
    if (Array.isArray(value) && /^\d+$/.test(part) && Number(part) < value.length) value = value[Number(part)];
    else if (value && typeof value === "object" && !Array.isArray(value) && part in value) value = value[part];
    else throw new Error(`unknown path in \${${ref}}`);
  }
  return value;
}

/** A step with its references, `$fill` and `$base64` replaced. */
export function resolveValue(value, env) {
  if (typeof value === "string") {
    const exact = EXACT.exec(value);
    if (exact) return lookup(env, exact[1]);
    return value.replace(INNER, (_, ref) => {
      const v = lookup(env, ref);
      return v !== null && typeof v === "object" ? JSON.stringify(v) : String(v);
    });
  }
  if (Array.isArray(value)) return value.map((v) => resolveValue(v, env));
  if (value && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$fill") return "x".repeat(Number(resolveValue(value.$fill, env)));
    if (keys.length === 1 && keys[0] === "$base64") {
      return new Uint8Array(Buffer.from(String(resolveValue(value.$base64, env)), "base64"));
    }
    return Object.fromEntries(keys.map((k) => [k, resolveValue(value[k], env)]));
  }
  return value;
}

// ---- matchers ----

function deepEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => k in b && deepEqual(a[k], b[k]));
}

function typeOf(v) {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

const isOperators = (m) =>
  m !== null && typeof m === "object" && !Array.isArray(m) && Object.keys(m).length > 0 && Object.keys(m).every((k) => k.startsWith("$"));

/** Why `actual` does not match `matcher` (null when it does). */
export function mismatch(matcher, actual, at = "$") {
  const show = (v) => JSON.stringify(v)?.slice(0, 300);
  if (isOperators(matcher)) {
    for (const [op, arg] of Object.entries(matcher)) {
      let ok;
      switch (op) {
        case "$gt":
          ok = typeof actual === "number" && actual > arg;
          break;
        case "$ne":
          ok = !deepEqual(actual, arg);
          break;
        case "$in":
          ok = Array.isArray(arg) && arg.some((v) => deepEqual(v, actual));
          break;
        case "$startswith":
          ok = typeof actual === "string" && actual.startsWith(arg);
          break;
        case "$contains":
          ok =
            (typeof actual === "string" && typeof arg === "string" && actual.includes(arg)) ||
            (Array.isArray(actual) && actual.some((item) => mismatch(arg, item) === null));
          break;
        case "$type":
          ok = typeOf(actual) === arg;
          break;
        default:
          return `${at}: unknown operator ${op}`;
      }
      if (!ok) return `${at}: ${show(actual)} does not hold ${op} ${show(arg)}`;
    }
    return null;
  }
  if (Array.isArray(matcher)) {
    if (!Array.isArray(actual)) return `${at}: expected a list, got ${show(actual)}`;
    if (actual.length !== matcher.length) return `${at}: expected ${matcher.length} items, got ${actual.length}: ${show(actual)}`;
    for (let i = 0; i < matcher.length; i++) {
      const why = mismatch(matcher[i], actual[i], `${at}[${i}]`);
      if (why) return why;
    }
    return null;
  }
  if (matcher !== null && typeof matcher === "object") {
    if (actual === null || typeof actual !== "object" || Array.isArray(actual)) return `${at}: expected an object, got ${show(actual)}`;
    for (const [k, m] of Object.entries(matcher)) {
      if (!(k in actual)) return `${at}.${k}: missing in ${show(actual)}`;
      const why = mismatch(m, actual[k], `${at}.${k}`);
      if (why) return why;
    }
    return null;
  }
  return matcher === actual ? null : `${at}: expected ${show(matcher)}, got ${show(actual)}`;
}

function check(matcher, actual, what) {
  const why = mismatch(matcher, actual);
  if (why) throw new Error(`${what} does not match: ${why}`);
}

// ---- the client side ----

/** The JSON form of a call's result: bytes become base64, nothing becomes null. */
function jsonForm(value) {
  if (value === undefined) return null;
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  return JSON.parse(JSON.stringify(value));
}

function errorJson(err) {
  return { status: err.status, code: err.code, message: err.message, hint: err.hint, retry_after: err.retryAfter };
}

const bytes = (data) => (typeof data === "string" ? new TextEncoder().encode(data) : data);

/** Each op in the Python spelling, as a call of `MuxiClient` (the README's argument table). */
export const OPS = {
  me: (c) => c.me(),
  health: (c) => c.health(),
  agents: (c) => c.agents(),
  "sessions.list": (c, a) => c.sessions.list({ query: a.query, limit: a.limit }),
  "sessions.get": (c, a) => c.sessions.get(a.id),
  "sessions.messages": (c, a) => c.sessions.messages(a.id),
  "sessions.delete": (c, a) => c.sessions.delete(a.id),
  "sessions.rename": (c, a) => c.sessions.rename(a.id, a.title),
  "sessions.export": (c, a) => c.sessions.export(a.id, a.fmt ?? "md"),
  "memory.list": (c, a) => c.memory.list({ kind: a.kind, limit: a.limit }),
  "memory.search": (c, a) => c.memory.search(a.q, { kind: a.kind, limit: a.limit }),
  "memory.add": (c, a) => c.memory.add(a.text, { kind: a.kind, replaces: a.replaces }),
  "memory.get": (c, a) => c.memory.get(a.id),
  "memory.forget": (c, a) => c.memory.forget(a.id),
  "media.upload": (c, a) => c.media.upload(bytes(a.data), { name: a.name, mediaType: a.media_type }),
  "media.info": (c, a) => c.media.info(a.id),
  "media.download": (c, a) => c.media.download(a.id),
  "media.delete": (c, a) => c.media.delete(a.id),
  "media.usage": (c) => c.media.usage(),
  "keys.list": (c) => c.keys.list(),
  "keys.create": (c, a) => c.keys.create({ role: a.role, userId: a.user_id, scopes: a.scopes, label: a.label }),
  "keys.revoke": (c, a) => c.keys.revoke(a.key_id),
  "runs.cancel": (c, a) => c.runs.cancel(a.run_id),
};

async function outcomeOf(promise) {
  try {
    return { value: jsonForm(await promise) };
  } catch (err) {
    if (err instanceof MuxiApiError) return { error: errorJson(err) };
    throw err;
  }
}

function callHolds(expect, outcome) {
  if (expect?.error !== undefined) {
    if (!outcome.error) return `expected an error, got the result ${JSON.stringify(outcome.value)?.slice(0, 300)}`;
    return mismatch(expect.error, outcome.error);
  }
  if (outcome.error) return `expected success, got the error ${JSON.stringify(outcome.error)}`;
  return expect?.result !== undefined ? mismatch(expect.result, outcome.value) : null;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const isSubsequence = (wanted, items, same) => {
  let i = 0;
  for (const item of items) if (i < wanted.length && same(wanted[i], item)) i++;
  return i === wanted.length;
};

// ---- the interpreter ----

export class ScenarioRunner {
  constructor(rig) {
    this.rig = rig;
  }

  async run(scenario) {
    await this.rig.control("/reset", {});
    const env = { rig: this.rig.info };
    Object.assign(env, resolveValue(scenario.vars ?? {}, env));
    const keys = new Map([["admin", this.rig.info.admin_key]]);
    const clients = new Map();
    const clientFor = (name) => {
      if (!keys.has(name)) throw new Error(`no key named ${name}`);
      if (!clients.has(name)) clients.set(name, new MuxiClient({ url: this.rig.info.url, apiKey: keys.get(name) }));
      return clients.get(name);
    };
    try {
      for (const [i, raw] of scenario.steps.entries()) {
        try {
          await this.step(raw, env, keys, clientFor);
        } catch (err) {
          err.message = `step ${i + 1} (${raw.do}${raw.op ? ` ${raw.op}` : ""}): ${err.message}`;
          throw err;
        }
      }
    } finally {
      for (const c of clients.values()) c.close();
    }
  }

  async step(raw, env, keys, clientFor) {
    // A chat's expectations may name its own result (`${t1.run_id}`): resolved after the turn.
    const { expect: rawExpect, ...rest } = raw;
    const step = resolveValue(rest, env);
    switch (step.do) {
      case "key": {
        const made = await this.rig.control("/key", {
          role: step.role ?? "user",
          user: step.user,
          scopes: step.scopes ?? null,
          label: step.label ?? null,
        });
        keys.set(step.as, made.key);
        env[step.as] = { key: made.key, key_id: made.key_id, role: step.role ?? "user", user: step.user };
        return;
      }
      case "script":
        await this.rig.control("/script", { replies: step.replies });
        return;
      case "restart":
        await this.rig.control("/restart", {});
        return;
      case "call":
        return this.call(step, rawExpect, env, clientFor(step.key));
      case "chat":
        return this.chat(step, rawExpect, env, clientFor(step.key));
      default:
        throw new Error(`unknown step ${JSON.stringify(step.do)}`);
    }
  }

  async call(step, rawExpect, env, client) {
    const op = OPS[step.op];
    if (!op) throw new Error(`unknown op ${step.op}`);
    const args = step.args ?? {};
    // `as` stores the outcome (a raised error: its JSON), then `expect` is
    // resolved, so it may refer to the step's own result.
    const attempt = async () => {
      const outcome = await outcomeOf(op(client, args));
      if (step.as) env[step.as] = outcome.error ?? outcome.value;
      return { outcome, why: callHolds(resolveValue(rawExpect, env), outcome) };
    };
    let last;
    if (step.eventually) {
      const deadline = Date.now() + step.eventually * 1000;
      for (;;) {
        last = await attempt();
        if (last.why === null || Date.now() >= deadline) break;
        await sleep(200);
      }
    } else {
      for (let i = 0; i < (step.repeat ?? 1); i++) {
        last = await attempt();
        if (last.outcome.error) break;
      }
    }
    if (last.why) throw new Error(`${step.op}: ${last.why}`);
  }

  async chat(step, rawExpect, env, client) {
    const on = step.on ?? [];
    const fired = new Set();
    const top = [];
    let turn = null;
    let result;
    const play = async () => {
      turn = await client.chat(step.request, { transport: step.transport });
      for await (const event of turn) {
        if (event.parent_run_id) continue;
        top.push(event);
        for (const [i, handler] of on.entries()) {
          if (fired.has(i) || mismatch(handler.when, event) !== null) continue;
          fired.add(i);
          await this.act(handler.then, turn, event);
        }
      }
      const r = await turn.result();
      return {
        run_id: r.runId,
        session_id: r.sessionId,
        agent: r.agent,
        reply: r.reply,
        status: r.status,
        error: r.error ? { code: r.error.code, message: r.error.message, hint: r.error.hint ?? null } : null,
        usage: jsonForm(r.usage),
        tool_calls: jsonForm(r.toolCalls),
        types: top.map((e) => e.type),
      };
    };
    const limit = (step.timeout ?? 30) * 1000;
    let timer;
    try {
      result = await Promise.race([
        play(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`the turn did not end within ${limit / 1000} s`)), limit);
        }),
      ]);
    } catch (err) {
      if (!(err instanceof MuxiApiError)) {
        await turn?.close().catch(() => undefined);
        throw err;
      }
      result = { status: "error", error: errorJson(err) };
    } finally {
      clearTimeout(timer);
    }
    if (step.as) env[step.as] = result;
    const expect = resolveValue(rawExpect ?? {}, env);
    if (expect.error !== undefined) {
      if (result.status !== "error") throw new Error(`expected an error, the turn ended ${result.status}`);
      check(expect.error, result.error, "the error");
    } else if (result.status === "error") {
      throw new Error(`the client raised ${JSON.stringify(result.error)}`);
    }
    const types = top.map((e) => e.type);
    if (expect.types && !isSubsequence(expect.types, types, (a, b) => a === b)) {
      throw new Error(`types ${JSON.stringify(expect.types)} are not a subsequence of ${JSON.stringify(types)}`);
    }
    if (expect.events && !isSubsequence(expect.events, top, (m, e) => mismatch(m, e) === null)) {
      throw new Error(`events ${JSON.stringify(expect.events)} do not match in order: ${JSON.stringify(top).slice(0, 2000)}`);
    }
    for (const t of expect.no_types ?? []) if (types.includes(t)) throw new Error(`the turn had a ${t} event: ${JSON.stringify(types)}`);
    if (expect.status !== undefined) check(expect.status, result.status, `status (error: ${JSON.stringify(result.error)})`);
    if (expect.reply !== undefined) check(expect.reply, result.reply, "reply");
    if (expect.error_code !== undefined) check(expect.error_code, result.error?.code ?? null, "error_code");
    if (expect.result !== undefined) check(expect.result, result, "result");
  }

  async act(then, turn, event) {
    if (then.startsWith("approve:")) {
      await turn.approve(event.call_id, then.slice("approve:".length), event.run_id);
    } else if (then === "cancel") {
      await turn.cancel();
    } else if (then === "restart") {
      await this.rig.control("/restart", {});
    } else {
      throw new Error(`unknown handler action ${then}`);
    }
  }
}
