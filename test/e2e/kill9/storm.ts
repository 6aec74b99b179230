import { setTimeout as sleep } from "node:timers/promises";
import { createToken, enroll, revoke } from "./clients.js";
import type { Attempt, Ledger, Revocation } from "./ledger.js";
import { kill9, type Admin, type Serving } from "./server.js";

/**
 * One round of the storm against one server process: the round's tokens are created (acknowledged)
 * first, then every enrollment of the round — raced pairs spending one single-use token over JSON and
 * EST at once, an over-subscribed group token, retries of what an earlier kill cut — and revocations
 * (of earlier rounds' devices, and of this round's as they enroll) go out together. `kill -9` lands after
 * a seeded number of answers plus a seeded delay, so it hits the server mid-storm however fast it is.
 */
export interface StormShape {
  readonly deviceTokens: number;
  readonly groupUses: number;
  /** Distinct CNs tried against the group token (more than its uses), plus one CN tried twice. */
  readonly groupAttempts: number;
  /** At most this many revocations of earlier rounds' devices at the start of a round. */
  readonly revocationsOfEarlier: number;
  /** Chance that a device enrolled in this round is revoked as soon as its certificate arrives. */
  readonly revokeOnArrival: number;
}

export const REASONS = ["keyCompromise", "cessationOfOperation", "superseded", "unspecified", "affiliationChanged"];

/** mulberry32: small, seeded, the same sequence on every machine. */
export function prng(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    chance: (p: number) => next() < p,
  };
}
export type Rng = ReturnType<typeof prng>;

/** Device ids start with this, so the checks can list exactly the storm's devices. */
export const NAMESPACE = "k9-";

/** Creates the round's tokens and lays out its enrollments (retries of cut or unsent ones included). */
export async function planRound(admin: Admin, ledger: Ledger, round: number, rng: Rng, shape: StormShape) {
  const retries = retriesOf(ledger, round);
  const ids = Array.from({ length: shape.deviceTokens }, (_, i) => `${NAMESPACE}r${round}-d${i}`);
  const prefix = `${NAMESPACE}r${round}-g-`;
  const [group, ...singles] = await Promise.all([
    createToken(admin, { prefix, uses: shape.groupUses }),
    ...ids.map((deviceId) => createToken(admin, { deviceId })),
  ]);
  ledger.grants.push(group, ...singles);
  const attempt = (tokenId: string, deviceId: string, via: "json" | "est"): Attempt => ({
    round,
    via,
    tokenId,
    deviceId,
    outcome: { kind: "unsent" },
  });
  const fresh = singles.flatMap((grant) =>
    rng.chance(0.5)
      ? [attempt(grant.id, grant.deviceId!, "json"), attempt(grant.id, grant.deviceId!, "est")]
      : [attempt(grant.id, grant.deviceId!, rng.chance(0.5) ? "json" : "est")],
  );
  const cns = Array.from({ length: shape.groupAttempts }, (_, i) => `${prefix}${i}`);
  const grouped = [...cns, cns[0]!].map((cn, i) => attempt(group.id, cn, i % 2 === 0 ? "json" : "est"));
  return [...retries, ...fresh, ...grouped];
}

/** One new attempt for each one whose outcome a kill left open (same token and CN, a fresh key). */
export function retriesOf(ledger: Ledger, round: number): Attempt[] {
  const open = ledger.attempts.filter(
    (a) => (a.outcome.kind === "cut" || a.outcome.kind === "unsent") && !ledger.retried.has(a),
  );
  for (const a of open) ledger.retried.add(a);
  return open.map((a) => ({ ...a, round, outcome: { kind: "unsent" } }));
}

export interface KillPlan {
  /** Answers (or cut exchanges) to wait for before the kill… */
  readonly afterSettled: number;
  /** …and then this many ms more. */
  readonly delayMs: number;
}

export function killPlan(rng: Rng, attempts: number): KillPlan {
  return { afterSettled: rng.int(2, Math.max(2, Math.floor(attempts / 2))), delayMs: rng.int(0, 25) };
}

/** Devices the clients hold a certificate for and nobody tried to revoke yet, in a stable order. */
function revocable(ledger: Ledger): string[] {
  const tried = new Set(ledger.revocations.map((r) => r.deviceId));
  return [...new Set(ledger.issued().map((a) => a.deviceId))].filter((id) => !tried.has(id)).sort();
}

/** Runs the round's enrollments and revocations; with a plan, `kill -9`s the server mid-way. */
export async function storm(
  context: { serving: Serving; admin: Admin; ledger: Ledger; rng: Rng; round: number },
  attempts: Attempt[],
  shape: StormShape,
  kill?: KillPlan,
): Promise<void> {
  const { serving, admin, ledger, rng, round } = context;
  let settled = 0;
  let killed: Promise<unknown> | null = null;
  const settle = () => {
    settled += 1;
    if (kill !== undefined && killed === null && settled >= kill.afterSettled)
      killed = sleep(kill.delayMs).then(() => ((ledger.kills += 1), kill9(serving)));
  };
  const revokeNow = (deviceId: string) => {
    const revocation: Revocation = {
      round,
      deviceId,
      reason: REASONS[rng.int(0, REASONS.length - 1)]!,
      outcome: { kind: "unsent" },
    };
    ledger.revocations.push(revocation);
    return revoke(admin, revocation).then(settle);
  };
  const chained = attempts.map(() => rng.chance(shape.revokeOnArrival));
  const earlier = revocable(ledger)
    .filter(() => rng.chance(0.5))
    .slice(0, shape.revocationsOfEarlier);
  ledger.attempts.push(...attempts);
  const work = [
    ...earlier.map(revokeNow),
    ...attempts.map(async (attempt, i) => {
      await enroll(serving, ledger.grant(attempt.tokenId), attempt);
      settle();
      if (
        chained[i] &&
        attempt.outcome.kind === "ok" &&
        !ledger.revocations.some((r) => r.deviceId === attempt.deviceId)
      )
        await revokeNow(attempt.deviceId);
    }),
  ];
  await Promise.all(work);
  if (kill !== undefined) {
    if (killed === null) killed = ((ledger.kills += 1), kill9(serving)); // the storm ended first: kill anyway
    await killed;
  }
}
