import { createToken } from "./clients.js";
import type { Attempt, Ledger } from "./ledger.js";
import type { Admin } from "./server.js";

/**
 * What one round of the storm sends, laid out from a seeded PRNG so the structure of every run is the
 * same: the round's tokens (created and acknowledged before the storm), single-use tokens raced by two
 * clients at once over JSON and EST, a group token raced by more CNs than it has uses (one CN twice),
 * replays of tokens spent in earlier rounds (a spend must survive the kill), and retries of whatever an
 * earlier kill cut. What the server answers is of course up to the server and the kill's timing.
 */
export interface StormShape {
  readonly deviceTokens: number;
  readonly groupUses: number;
  /** Distinct CNs tried against the group token (more than its uses), plus one CN tried twice. */
  readonly groupAttempts: number;
  /** Spent tokens of earlier rounds presented again (each must be refused). */
  readonly replays: number;
  /** At most this many revocations of earlier rounds' devices at the start of a round. */
  readonly revocationsOfEarlier: number;
  /** Chance that a device enrolled in this round is revoked as soon as its certificate arrives. */
  readonly revokeOnArrival: number;
}

/** Device ids start with this, so the checks can list exactly the storm's devices. */
export const NAMESPACE = "k9-";

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
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  return { next, int, chance: (p: number) => next() < p };
}
export type Rng = ReturnType<typeof prng>;

export interface RoundPlan {
  /** Each on a fresh connection of its own. */
  readonly singles: Attempt[];
  /** Bursts spending one token at the same moment: pairs on a single-use token, the group's CNs. */
  readonly races: (readonly Attempt[])[];
}

function attemptOf(round: number, tokenId: string, deviceId: string, via: "json" | "est"): Attempt {
  return { round, via, tokenId, deviceId, outcome: { kind: "unsent" } };
}

export async function planRound(admin: Admin, ledger: Ledger, round: number, rng: Rng, shape: StormShape) {
  const retries = retriesOf(ledger, round);
  const replays = replaysOf(ledger, round, rng, shape.replays);
  const ids = Array.from({ length: shape.deviceTokens }, (_, i) => `${NAMESPACE}r${round}-d${i}`);
  const prefix = `${NAMESPACE}r${round}-g-`;
  const [group, ...singles] = await Promise.all([
    createToken(admin, { prefix, uses: shape.groupUses }),
    ...ids.map((deviceId) => createToken(admin, { deviceId })),
  ]);
  ledger.grants.push(group, ...singles);
  const races: Attempt[][] = [];
  const lone: Attempt[] = [];
  for (const grant of singles) {
    const id = grant.deviceId!;
    if (rng.chance(0.5)) races.push([attemptOf(round, grant.id, id, "json"), attemptOf(round, grant.id, id, "est")]);
    else lone.push(attemptOf(round, grant.id, id, rng.chance(0.5) ? "json" : "est"));
  }
  const cns = Array.from({ length: shape.groupAttempts }, (_, i) => `${prefix}${i}`);
  const grouped = [...cns, cns[0]!].map((cn, i) => attemptOf(round, group.id, cn, i % 2 === 0 ? "json" : "est"));
  return { singles: [...retries, ...replays, ...lone], races: [...races, grouped] };
}

/** One new attempt for each one whose outcome a kill left open (same token and CN, a fresh key). */
export function retriesOf(ledger: Ledger, round: number): Attempt[] {
  const open = ledger.attempts.filter(
    (a) => (a.outcome.kind === "cut" || a.outcome.kind === "unsent") && !ledger.retried.has(a),
  );
  for (const a of open) ledger.retried.add(a);
  return open.map((a) => ({ ...a, round, outcome: { kind: "unsent" } }));
}

/** Earlier successes presented again, token and CN, over the other channel: a spent token stays spent. */
function replaysOf(ledger: Ledger, round: number, rng: Rng, count: number): Attempt[] {
  const spent = ledger.issued().sort((a, b) => (a.deviceId < b.deviceId ? -1 : 1));
  const picked = spent.filter(() => rng.chance(0.3)).slice(0, count);
  return picked.map((a) => attemptOf(round, a.tokenId, a.deviceId, a.via === "json" ? "est" : "json"));
}

export interface KillPlan {
  /** Answers (or cut exchanges) to wait for before the kill… */
  readonly afterSettled: number;
  /** …and then this many ms more. */
  readonly delayMs: number;
}

export function killPlan(rng: Rng, plan: RoundPlan): KillPlan {
  const requests = plan.singles.length + plan.races.flat().length;
  return { afterSettled: rng.int(2, Math.max(2, Math.floor(requests / 2))), delayMs: rng.int(0, 25) };
}
