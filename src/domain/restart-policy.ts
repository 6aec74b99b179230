/**
 * When the `serve --workers N` primary restarts a worker that died on its own (README "Workers on one
 * host"). Pure: the caller passes the time and the worker slot's crash history.
 *
 * - A worker that dies before it was ever ready, in the first start of the slot, is a start-up failure
 *   (bad configuration, Redis or PostgreSQL unreachable, a port in use): restarting cannot fix it, so
 *   the primary stops, as a single `serve` would.
 * - Otherwise the delay doubles with each crash inside the window, from `initialDelayMs` up to
 *   `maxDelayMs`: a worker that crashes once in a while comes back at once, a crash loop does not spin.
 * - The `maxCrashes`-th crash inside the window gives up: the primary stops every worker and exits
 *   non-zero, leaving the next step to whatever runs it (systemd, Kubernetes), which sees the failure.
 */
export interface RestartPolicy {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** Crashes of one worker slot within `windowMs` that make the primary give up. */
  readonly maxCrashes: number;
  readonly windowMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  initialDelayMs: 500,
  maxDelayMs: 15_000,
  maxCrashes: 10,
  windowMs: 10 * 60_000,
};

export type RestartDecision =
  | { readonly action: "restart"; readonly delayMs: number; readonly crashesInWindow: number }
  | {
      readonly action: "give-up";
      readonly reason: "start-up failure" | "crash loop";
      readonly crashesInWindow: number;
    };

export interface CrashOutcome {
  readonly decision: RestartDecision;
  /** The slot's crash times to keep for its next crash (those still inside the window, this one included). */
  readonly history: readonly number[];
}

/** The delay after the n-th crash in the window (n ≥ 1): initial · 2^(n-1), capped. */
export function backoffDelay(crashesInWindow: number, policy: RestartPolicy = DEFAULT_RESTART_POLICY): number {
  const exponent = Math.max(0, crashesInWindow - 1);
  // 2^exponent overflows to Infinity for large exponents, which the cap absorbs.
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** exponent);
}

/**
 * What to do after a worker slot's process died without being asked to. `everReady`: whether the slot
 * has ever had a worker that finished starting.
 */
export function afterCrash(
  history: readonly number[],
  now: number,
  everReady: boolean,
  policy: RestartPolicy = DEFAULT_RESTART_POLICY,
): CrashOutcome {
  const recent = [...history.filter((at) => now - at < policy.windowMs), now];
  const crashesInWindow = recent.length;
  if (!everReady)
    return { decision: { action: "give-up", reason: "start-up failure", crashesInWindow }, history: recent };
  if (crashesInWindow >= policy.maxCrashes)
    return { decision: { action: "give-up", reason: "crash loop", crashesInWindow }, history: recent };
  return {
    decision: { action: "restart", delayMs: backoffDelay(crashesInWindow, policy), crashesInWindow },
    history: recent,
  };
}
