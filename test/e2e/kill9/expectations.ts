import { expect } from "vitest";
import type { ScenarioResult } from "./scenario.js";

/**
 * The run really tested something: every kill happened and cut requests in flight, certificates were
 * issued and refused (the races and the over-subscribed group token), revocations were acknowledged, and
 * a CRL was read after every start. Without this an all-refused or all-idle run would pass vacuously.
 */
export function expectStormExercised(result: ScenarioResult, kills: number): void {
  const { ledger } = result;
  const { counts: tally, refusals } = ledger.tally();
  console.log(
    `kill -9 storm: ${JSON.stringify(tally)}; refusals ${JSON.stringify(refusals)}; CRL numbers ${ledger.crls.map((c) => c.number).join(" → ")}`,
  );
  expect(tally["kills"]).toBe(kills);
  expect(ledger.crls).toHaveLength(kills + 1);
  expect(tally["enroll.ok"]).toBeGreaterThan(0);
  expect(tally["enroll.refused"]).toBeGreaterThan(0);
  expect(tally["enroll.cut"]! + tally["revoke.cut"]!).toBeGreaterThan(0);
  expect(tally["revoke.ok"]).toBeGreaterThan(0);
  expect(result.state.audit.length).toBeGreaterThan(0);
}
