// The client contract scenarios (clients/contract/scenarios.json), one test
// each, against a real `muxi serve` started by the contract rig.

import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { startRig } from "./rig.mjs";
import { ScenarioRunner } from "./scenarios.mjs";

const file = new URL("../../contract/scenarios.json", import.meta.url);
const { scenarios } = JSON.parse(readFileSync(file, "utf8"));

let rig = null;

before(async () => {
  rig = await startRig();
});

after(async () => {
  await rig?.stop();
});

for (const scenario of scenarios) {
  test(scenario.name, { timeout: 180_000 }, async () => {
    if (!rig) throw new Error("the rig did not start");
    await new ScenarioRunner(rig).run(scenario);
  });
}
