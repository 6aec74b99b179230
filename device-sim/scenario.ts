import type { Scenario } from "./types.js";

/**
 * How a scenario starts the fleet. steady, revoke and rotate spread first boots over a ramp, as devices
 * are installed one by one; storm powers everything on at once, as after a power cut, and lets
 * the server's rate limits and backpressure shape it; renew does the same, so that the renewals of
 * short-lived certificates come back as a storm too (spread only by the devices' jitter).
 */
const ALL_AT_ONCE: ReadonlySet<Scenario> = new Set(["storm", "renew"]);

export function defaultRampMs(scenario: Scenario, durationMs: number): number {
  if (ALL_AT_ONCE.has(scenario)) return 0;
  return Number.isFinite(durationMs) ? Math.min(5_000, Math.round(durationMs / 5)) : 5_000;
}

export function bootOffsetMs(scenario: Scenario, index: number, devices: number, rampMs: number): number {
  return ALL_AT_ONCE.has(scenario) || devices <= 1 ? 0 : Math.round((rampMs * index) / devices);
}

/** Revocations come once the fleet is up: after the ramp, and not before 40% of the run. */
export function defaultRevokeAtMs(durationMs: number, rampMs: number): number {
  const settled = rampMs + 1_000;
  return Number.isFinite(durationMs) ? Math.max(settled, Math.round(durationMs * 0.4)) : Math.max(settled, 10_000);
}

/** Device ids that sort in boot order: `sim-0001` … */
export function deviceIds(prefix: string, count: number): string[] {
  const width = Math.max(4, String(count).length);
  return Array.from({ length: count }, (_, i) => `${prefix}${String(i + 1).padStart(width, "0")}`);
}

/** `count` distinct items picked uniformly at random (partial Fisher-Yates). */
export function pickRandom<T>(items: readonly T[], count: number, random: () => number = Math.random): T[] {
  const pool = [...items];
  const picked: T[] = [];
  while (picked.length < count && pool.length > 0) {
    const i = Math.floor(random() * pool.length);
    picked.push(pool[i]!);
    pool[i] = pool[pool.length - 1]!;
    pool.pop();
  }
  return picked;
}
