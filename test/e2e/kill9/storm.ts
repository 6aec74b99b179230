import { setTimeout as sleep } from "node:timers/promises";
import { enroll, race, revoke } from "./clients.js";
import type { Attempt, Ledger, Revocation } from "./ledger.js";
import type { KillPlan, Rng, RoundPlan, StormShape } from "./plan.js";
import { kill9, type Admin, type Serving } from "./server.js";

/**
 * One round of the storm against one server process: every enrollment of the round plan and the
 * revocations (of earlier rounds' devices at once, and of this round's as their certificates arrive) go
 * out together; with a kill plan, `kill -9` lands after a seeded number of settled requests plus a seeded
 * delay, so it hits the server mid-storm however fast or loaded the machine is.
 */
export const REASONS = ["keyCompromise", "cessationOfOperation", "superseded", "unspecified", "affiliationChanged"];

export interface StormContext {
  readonly serving: Serving;
  readonly admin: Admin;
  readonly ledger: Ledger;
  readonly rng: Rng;
  readonly round: number;
}

/** Devices the clients hold a certificate for and nobody tried to revoke yet, in a stable order. */
function revocable(ledger: Ledger): string[] {
  const tried = new Set(ledger.revocations.map((r) => r.deviceId));
  return [...new Set(ledger.issued().map((a) => a.deviceId))].filter((id) => !tried.has(id)).sort();
}

/** `count` of `items` (all if fewer), chosen by the seeded PRNG. */
function pick<T>(items: readonly T[], count: number, rng: Rng): T[] {
  const pool = [...items];
  const out: T[] = [];
  while (out.length < count && pool.length > 0) out.push(...pool.splice(rng.int(0, pool.length - 1), 1));
  return out;
}

export async function storm(context: StormContext, plan: RoundPlan, shape: StormShape, kill?: KillPlan) {
  const { serving, admin, ledger, rng, round } = context;
  let settled = 0;
  let killed: Promise<unknown> | null = null;
  const killNow = () => ((ledger.kills += 1), kill9(serving));
  const settle = (n = 1) => {
    settled += n;
    if (kill !== undefined && killed === null && settled >= kill.afterSettled)
      killed = sleep(kill.delayMs).then(killNow);
  };
  const revokeNow = (deviceId: string) => {
    const reason = REASONS[ledger.revocations.length % REASONS.length]!;
    const revocation: Revocation = { round, deviceId, reason, outcome: { kind: "unsent" } };
    ledger.revocations.push(revocation);
    return revoke(admin, revocation).then(() => settle());
  };
  const onArrival = async (attempt: Attempt, chained: boolean) => {
    const untried = !ledger.revocations.some((r) => r.deviceId === attempt.deviceId);
    if (chained && attempt.outcome.kind === "ok" && untried) await revokeNow(attempt.deviceId);
  };
  const all = [...plan.singles, ...plan.races.flat()];
  const chained = new Map(all.map((a) => [a, rng.chance(shape.revokeOnArrival)]));
  const earlier = pick(revocable(ledger), shape.revocationsOfEarlier, rng);
  ledger.attempts.push(...all);
  await Promise.all([
    ...earlier.map(revokeNow),
    ...plan.singles.map(async (attempt) => {
      await enroll(serving, ledger.grant(attempt.tokenId), attempt);
      settle();
      await onArrival(attempt, chained.get(attempt)!);
    }),
    ...plan.races.map(async (racers) => {
      await race(serving, ledger.grant(racers[0]!.tokenId), racers);
      settle(racers.length);
      await Promise.all(racers.map((a) => onArrival(a, chained.get(a)!)));
    }),
  ]);
  // The storm may end before the kill point on a fast machine: kill anyway, the round is a kill round.
  if (kill !== undefined) await (killed ?? killNow());
}
