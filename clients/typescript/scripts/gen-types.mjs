#!/usr/bin/env node
// Writes src/generated.ts from the committed API contract: the event types as
// a discriminated union (on `type`) from docs/api/events.schema.json, and the
// request/response types from docs/api/openapi.json. `--check` writes nothing
// and fails when src/generated.ts differs from what the documents give, so a
// schema change that was not regenerated is caught (the test script runs it).
//
//   node scripts/gen-types.mjs [--check] [--docs DIR] [--out FILE]
//
// Only the JSON Schema the two documents use is translated (types, const,
// enum, anyOf/oneOf/allOf, $ref, items, prefixItems, properties,
// additionalProperties); anything else becomes `unknown`, never an error.

import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const pkg = resolve(here, "..");

function parseArgs(argv) {
  const opts = { check: false, docs: resolve(pkg, "../../docs/api"), out: join(pkg, "src/generated.ts") };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--check") opts.check = true;
    else if (a === "--docs") opts.docs = resolve(argv[++i]);
    else if (a === "--out") opts.out = resolve(argv[++i]);
    else {
      console.error(`gen-types: unknown argument ${a}\nusage: node scripts/gen-types.mjs [--check] [--docs DIR] [--out FILE]`);
      process.exit(2);
    }
  }
  return opts;
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function key(name) {
  return IDENT.test(name) ? name : JSON.stringify(name);
}

/** Names of the platform's globals: a schema of that name gets an `Api` prefix (`Error` -> `ApiError`). */
const GLOBALS = new Set([
  "Array", "Blob", "Date", "Error", "Event", "File", "FormData", "Headers", "Map", "Object",
  "Promise", "Record", "Request", "Response", "Set", "String", "Symbol", "URL", "WebSocket",
]);

function typeName(name) {
  const cleaned = String(name)
    .replace(/[^A-Za-z0-9_$]+(.)?/g, (_, c) => (c ? c.toUpperCase() : ""))
    .replace(/^[0-9]/, (d) => `_${d}`);
  if (GLOBALS.has(cleaned)) return `Api${cleaned}`;
  return cleaned || "Unnamed";
}

function doc(text, indent) {
  if (typeof text !== "string" || !text.trim()) return "";
  // Python docstrings quote code as ``x``: Markdown's `x` reads better in an editor.
  const lines = text.trim().replace(/``([^`]+)``/g, "`$1`").replace(/\*\//g, "*\\/").split("\n");
  if (lines.length === 1) return `${indent}/** ${lines[0]} */\n`;
  return `${indent}/**\n${lines.map((l) => `${indent} *${l ? ` ${l}` : ""}`).join("\n")}\n${indent} */\n`;
}

function union(parts) {
  const seen = [];
  for (const p of parts) if (!seen.includes(p)) seen.push(p);
  if (seen.includes("unknown")) return "unknown";
  return seen.length ? seen.join(" | ") : "never";
}

function paren(t) {
  return /[|&]/.test(t) && !/^[{[(]/.test(t) ? `(${t})` : t;
}

/** A translator of one document's schemas, resolving its local `$ref`s through `refs`. */
class Translator {
  constructor(refs) {
    this.refs = refs; // "#/$defs/X" -> TS name
  }

  type(schema, indent) {
    if (schema === true || schema === undefined || schema === null) return "unknown";
    if (schema === false) return "never";
    if (typeof schema !== "object") return "unknown";
    if (typeof schema.$ref === "string") return this.refs.get(schema.$ref) ?? "unknown";
    if ("const" in schema) return JSON.stringify(schema.const);
    if (Array.isArray(schema.enum)) return union(schema.enum.map((v) => JSON.stringify(v)));
    for (const k of ["anyOf", "oneOf"]) {
      if (Array.isArray(schema[k])) return union(schema[k].map((s) => this.type(s, indent)));
    }
    if (Array.isArray(schema.allOf)) {
      const parts = schema.allOf.map((s) => this.type(s, indent)).filter((t) => t !== "unknown");
      return parts.length ? parts.map(paren).join(" & ") : "unknown";
    }
    if (Array.isArray(schema.type)) {
      return union(schema.type.map((t) => this.type({ ...schema, type: t }, indent)));
    }
    switch (schema.type) {
      case "string":
        return "string";
      case "integer":
      case "number":
        return "number";
      case "boolean":
        return "boolean";
      case "null":
        return "null";
      case "array":
        return this.array(schema, indent);
      case "object":
        return this.object(schema, indent);
      default:
        if (schema.properties) return this.object(schema, indent);
        return "unknown";
    }
  }

  array(schema, indent) {
    if (Array.isArray(schema.prefixItems)) {
      const items = schema.prefixItems.map((s) => this.type(s, indent));
      if (schema.items === false) return `[${items.join(", ")}]`;
      return `[${[...items, `...${paren(this.type(schema.items, indent))}[]`].join(", ")}]`;
    }
    return `${paren(this.type(schema.items, indent))}[]`;
  }

  object(schema, indent) {
    const props = schema.properties && typeof schema.properties === "object" ? schema.properties : {};
    const names = Object.keys(props);
    const extra = schema.additionalProperties;
    if (!names.length) {
      if (extra === false) return "Record<string, never>";
      return `Record<string, ${extra && extra !== true ? this.type(extra, indent) : "unknown"}>`;
    }
    return this.body(schema, indent);
  }

  /** `{ fields }` of an object schema (the body of an interface). */
  body(schema, indent) {
    const props = schema.properties ?? {};
    const required = new Set(Array.isArray(schema.required) ? schema.required : []);
    const inner = `${indent}  `;
    let out = "{\n";
    for (const [name, prop] of Object.entries(props)) {
      out += doc(prop && prop.description, inner);
      out += `${inner}${key(name)}${required.has(name) ? "" : "?"}: ${this.type(prop, inner)};\n`;
    }
    const extra = schema.additionalProperties;
    if (extra !== undefined && extra !== false) out += `${inner}[field: string]: unknown;\n`;
    return `${out}${indent}}`;
  }

  /** A named declaration: an interface for an object with fields, a type alias otherwise. */
  declare(name, schema) {
    const head = doc(schema && schema.description, "");
    if (schema && typeof schema === "object" && schema.properties && !schema.anyOf && !schema.oneOf && !schema.allOf) {
      return `${head}export interface ${name} ${this.body(schema, "")}\n`;
    }
    return `${head}export type ${name} = ${this.type(schema, "")};\n`;
  }
}

function eventsPart(schema, names) {
  const defs = schema.$defs ?? schema.definitions ?? {};
  const base = schema.$defs ? "#/$defs/" : "#/definitions/";
  const refs = new Map();
  for (const name of Object.keys(defs)) {
    const ts = typeName(name);
    refs.set(base + name, ts);
    names.add(ts);
  }
  const t = new Translator(refs);
  // The event types: the top level's oneOf, in its order; else every def with a `type` const.
  const listed = Array.isArray(schema.oneOf) ? schema.oneOf.map((s) => s.$ref).filter(Boolean) : [];
  const eventRefs = listed.length
    ? listed
    : Object.keys(defs)
        .filter((n) => defs[n]?.properties?.type && "const" in defs[n].properties.type)
        .map((n) => base + n);
  const events = [];
  for (const ref of eventRefs) {
    const def = defs[ref.slice(base.length)];
    const wire = def?.properties?.type?.const;
    if (typeof wire === "string") events.push({ name: refs.get(ref), wire });
  }
  let out = "// ---- Events (docs/api/events.schema.json) ----\n\n";
  for (const [name, def] of Object.entries(defs)) out += `${t.declare(refs.get(base + name), def)}\n`;
  out += "/** Every event type this client knows, discriminated by `type`. */\n";
  out += `export type KnownEvent =\n${events.map((e) => `  | ${e.name}`).join("\n")};\n\n`;
  out += "/** The wire `type` of every known event. */\n";
  out += `export const EVENT_TYPES = [\n${events.map((e) => `  ${JSON.stringify(e.wire)},`).join("\n")}\n] as const;\n\n`;
  out += "export type EventType = (typeof EVENT_TYPES)[number];\n\n";
  out += "/** The event interface of each wire type. */\n";
  out += `export interface EventTypeMap {\n${events.map((e) => `  ${JSON.stringify(e.wire)}: ${e.name};`).join("\n")}\n}\n`;
  return out;
}

const METHODS = ["get", "post", "put", "patch", "delete"];

function openapiPart(doc_, names) {
  const schemas = doc_.components?.schemas ?? {};
  const refs = new Map();
  const declared = [];
  for (const name of Object.keys(schemas)) {
    const ts = typeName(name);
    refs.set(`#/components/schemas/${name}`, ts);
    // The event types are in both documents: declared once, from the event schema.
    if (names.has(ts)) continue;
    names.add(ts);
    declared.push([ts, schemas[name]]);
  }
  const t = new Translator(refs);
  let out = "// ---- Requests and responses (docs/api/openapi.json) ----\n\n";
  for (const [ts, schema] of declared) out += `${t.declare(ts, schema)}\n`;
  // What each operation answers (its 200/201 JSON body), keyed "METHOD /path".
  const ops = [];
  for (const path of Object.keys(doc_.paths ?? {}).sort()) {
    for (const method of METHODS) {
      const op = doc_.paths[path][method];
      if (!op) continue;
      const ok = op.responses?.["200"] ?? op.responses?.["201"];
      const body = ok?.content?.["application/json"]?.schema;
      const req = op.requestBody?.content?.["application/json"]?.schema;
      ops.push({
        key: `${method.toUpperCase()} ${path}`,
        response: body ? t.type(body, "    ") : "void",
        request: req ? t.type(req, "    ") : "never",
      });
    }
  }
  out += "/** The JSON answer of each operation (`void`: none, or not JSON). */\n";
  out += `export interface ApiResponses {\n${ops.map((o) => `  ${JSON.stringify(o.key)}: ${o.response};`).join("\n")}\n}\n\n`;
  out += "/** The JSON body each operation takes (`never`: none). */\n";
  out += `export interface ApiRequests {\n${ops.map((o) => `  ${JSON.stringify(o.key)}: ${o.request};`).join("\n")}\n}\n`;
  return out;
}

export function generate(docsDir) {
  const events = JSON.parse(readFileSync(join(docsDir, "events.schema.json"), "utf8"));
  const openapi = JSON.parse(readFileSync(join(docsDir, "openapi.json"), "utf8"));
  const names = new Set();
  const version = openapi.info?.version ?? "";
  let out = "// Generated by scripts/gen-types.mjs from docs/api/events.schema.json and\n";
  out += "// docs/api/openapi.json: do not edit (run `npm run gen`; `npm run gen:check` compares).\n\n";
  out += "/** The API version of the documents these types come from. */\n";
  out += `export const SCHEMA_API_VERSION = ${JSON.stringify(version)};\n\n`;
  out += eventsPart(events, names);
  out += "\n";
  out += openapiPart(openapi, names);
  return out;
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const text = generate(opts.docs);
  const shown = relative(process.cwd(), opts.out) || opts.out;
  if (opts.check) {
    let current = "";
    try {
      current = readFileSync(opts.out, "utf8");
    } catch {
      current = "";
    }
    if (current !== text) {
      console.error(`${shown} is out of date with ${opts.docs}: run \`npm run gen\` in clients/typescript`);
      process.exit(1);
    }
    console.log(`${shown} is up to date`);
    return;
  }
  writeFileSync(opts.out, text);
  console.log(`wrote ${shown}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
