import { join } from "node:path";
import { inspectCrl } from "./crl.js";
import { readFinalState, type FinalState } from "./final-state.js";
import { violations } from "./invariants.js";
import { Ledger } from "./ledger.js";
import { Admin, initDataDir, kill9, startServe, type ServeTarget } from "./server.js";
import { killPlan, planRound, prng, retriesOf, type StormShape } from "./plan.js";
import { storm } from "./storm.js";

/**
 * The whole fault-injection run on one data dir: `init`, then `kills` rounds of (start `serve`, check the
 * CRL it serves, storm, `kill -9` mid-storm), then a recovery start that retries what the kills left
 * open and reads the registry back for the invariant checks. Bounded: a fixed number of rounds and
 * requests, every request and every start with a deadline.
 */
export interface ScenarioOptions {
  readonly target: ServeTarget;
  readonly seed: number;
  readonly kills: number;
  readonly shape?: StormShape;
}

export interface ScenarioResult {
  readonly ledger: Ledger;
  readonly state: FinalState;
  readonly violations: string[];
}

export const DEFAULT_SHAPE: StormShape = {
  deviceTokens: 6,
  groupUses: 3,
  groupAttempts: 5,
  replays: 3,
  revocationsOfEarlier: 3,
  revokeOnArrival: 0.25,
};

/** The CRL right after a start: it must list every revocation acknowledged before the kill. */
async function checkServedCrl(admin: Admin, ledger: Ledger, round: number, issuingCa: string) {
  const mustList = ledger.acknowledgedRevocations().flatMap((r) => r.outcome.serials);
  const facts = await inspectCrl(await admin.crl(), issuingCa);
  const served = { ...facts, round, mustList };
  ledger.crls.push(served);
  return served;
}

export async function runKill9Scenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const { target, kills } = options;
  const shape = options.shape ?? DEFAULT_SHAPE;
  const ledger = new Ledger();
  const rng = prng(options.seed);
  const issuingCa = join(target.dataDir, "pki", "issuing-ca.crt");
  await initDataDir(target);
  for (let round = 0; ; round += 1) {
    const serving = await startServe(target);
    const admin = new Admin(target, serving);
    const crl = await checkServedCrl(admin, ledger, round, issuingCa);
    const context = { serving, admin, ledger, rng, round };
    if (round < kills) {
      const plan = await planRound(admin, ledger, round, rng, shape);
      await storm(context, plan, shape, killPlan(rng, plan));
      continue;
    }
    // Recovery: no new revocations (the CRL just checked must cover all of them), retries to the end.
    const recovery = { singles: retriesOf(ledger, round), races: [] };
    await storm(context, recovery, { ...shape, revocationsOfEarlier: 0, revokeOnArrival: 0 });
    const state = await readFinalState(admin, target, crl);
    await kill9(serving);
    return { ledger, state, violations: violations(ledger, state) };
  }
}
