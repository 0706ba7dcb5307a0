// `client.mcp`: the MCP OAuth logins of a real `muxi serve` (the contract rig
// with the test OAuth server, tests/mcp_servers/oauth_server.py, whose
// authorization server approves at once: the test plays the browser).

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { BadRequest, MuxiClient, NotFound } from "../dist/index.js";
import { startRig } from "./rig.mjs";

let rig = null;
const clients = [];

before(async () => {
  rig = await startRig({ args: ["--oauth"] });
});

after(async () => {
  for (const c of clients) await c.close();
  await rig?.stop();
});

async function clientFor(user) {
  const made = await rig.control("/key", { role: "user", user, scopes: null });
  const client = new MuxiClient({ url: rig.info.url, apiKey: made.key });
  clients.push(client);
  return client;
}

/** A browser: authorize, land on muxi's callback page, press its Continue button. */
async function browse(url, user) {
  const page = await fetch(`${url}&user=${user}`);
  const html = await page.text();
  assert.equal(page.status, 200, html);
  assert.match(html, new RegExp(`muxi user <b>${user}</b>`));
  const form = new URLSearchParams();
  for (const [, name, value] of html.matchAll(/name="?([a-z]+)"? value="?([^">]*)"?/g)) form.set(name, value);
  const target = new URL(page.url);
  target.search = form.toString();
  const done = await fetch(target);
  return done.text();
}

test("login in the browser, its status, logout", async () => {
  const alice = await clientFor("alice");
  let status = await alice.mcp.loginStatus("secure");
  assert.deepEqual([status.auth, status.login], ["oauth: not signed in", null]);
  const url = await alice.mcp.login("secure");
  assert.ok(url.startsWith(rig.info.oauth), url);
  assert.equal((await alice.mcp.loginStatus("secure")).login, "pending");
  assert.match(await browse(url, "alice"), /signed in to secure/);
  status = await alice.mcp.loginStatus("secure");
  assert.deepEqual([status.auth, status.login], ["oauth: signed in", "signed in"]);
  const row = (await alice.mcp.servers()).find((s) => s.name === "secure");
  assert.equal(row.auth, "oauth: signed in");
  assert.equal(await alice.mcp.logout("secure"), true);
  assert.equal((await alice.mcp.loginStatus("secure")).auth, "oauth: not signed in");
  assert.equal(await alice.mcp.logout("secure"), false);
});

test("the paste-back finishes only the caller's own login", async () => {
  const bob = await clientFor("bob");
  const carol = await clientFor("carol");
  const url = await bob.mcp.login("secure");
  // A browser that cannot reach muxi: the address it ended on, pasted back.
  const redirect = (await fetch(`${url}&user=bob`, { redirect: "manual" })).headers.get("location");
  assert.ok(redirect, "the authorization server redirected");
  await assert.rejects(carol.mcp.completeLogin("secure", redirect), (err) => err instanceof BadRequest);
  const done = await bob.mcp.completeLogin("secure", redirect);
  assert.deepEqual([done.server, done.login, done.auth], ["secure", "signed in", "oauth: signed in"]);
  assert.equal((await bob.mcp.loginStatus("secure")).auth, "oauth: signed in");
  await assert.rejects(bob.mcp.login("no-such-server"), (err) => err instanceof NotFound);
});
