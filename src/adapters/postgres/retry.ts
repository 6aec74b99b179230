import pg from "pg";

/**
 * Failures that mean "another unit of work got there first", not "this unit is wrong": running the
 * whole unit again from scratch, against what is committed now, gives the answer a serial run would.
 * - 40001 serialization_failure, 40P01 deadlock_detected: PostgreSQL aborted the transaction.
 * - 23505 unique_violation: two units both read "no such row" (nothing to lock yet) and both inserted it,
 *   e.g. the same new device from two tokens; the rerun sees the winner's row and judges against it.
 *   A genuine duplicate (the same serial twice) fails every attempt and its error reaches the caller.
 */
const RETRYABLE = new Set(["40001", "40P01", "23505"]);

/** Attempts in all, the first included: enough for a burst of conflicts, few enough to fail fast. */
export const MAX_ATTEMPTS = 6;
const BASE_DELAY_MS = 5;
const MAX_DELAY_MS = 200;

export function isRetryable(error: unknown): boolean {
  return error instanceof pg.DatabaseError && error.code !== undefined && RETRYABLE.has(error.code);
}

/**
 * "Full jitter" exponential backoff: a random wait in [0, min(cap, base·2^attempt)), so units that collided
 * once do not collide again in lockstep.
 */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  return random() * Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** attempt);
}

/** Runs `attempt` until it succeeds, fails with a non-retryable error, or MAX_ATTEMPTS are spent. */
export async function withRetry<T>(attempt: (n: number) => Promise<T>): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (n >= MAX_ATTEMPTS || !isRetryable(error)) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, backoffMs(n)));
  }
}
