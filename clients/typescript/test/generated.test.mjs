// src/generated.ts is what scripts/gen-types.mjs makes of the committed
// docs/api documents: a schema change that was not regenerated fails here.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { EVENT_TYPES } from "../dist/index.js";
import { generate } from "../scripts/gen-types.mjs";

const docs = fileURLToPath(new URL("../../../docs/api", import.meta.url));
const generated = fileURLToPath(new URL("../src/generated.ts", import.meta.url));

test("src/generated.ts matches docs/api", () => {
  assert.ok(existsSync(docs), `no ${docs}`);
  assert.equal(readFileSync(generated, "utf8"), generate(docs), "run `npm run gen` in clients/typescript");
});

test("every event type of the schema is known", () => {
  const schema = JSON.parse(readFileSync(`${docs}/events.schema.json`, "utf8"));
  const types = Object.values(schema.$defs)
    .map((d) => d.properties?.type?.const)
    .filter(Boolean)
    .sort();
  assert.deepEqual([...EVENT_TYPES].sort(), types);
  assert.ok(EVENT_TYPES.includes("usage") && EVENT_TYPES.includes("text.delta"));
});
