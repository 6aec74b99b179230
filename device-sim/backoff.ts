import type { RetryPolicy } from "./types.js";

export type FailureKind = "refused" | "transient";
export type RetryDecision =
  { readonly retry: true; readonly delayMs: number } | { readonly retry: false; readonly reason: string };

/**
 * "Full jitter" exponential backoff: a random delay in [0, min(max, base·2^n)]. The randomness is
 * what keeps a fleet that was refused together from coming back together.
 */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(random() * ceiling);
}

/**
 * Counts consecutive failures of each kind; a success resets both. Refusals get a small budget
 * (asking again will not change the answer), transient failures a large one (the server is busy).
 */
export class RetryBudget {
  private refusals = 0;
  private transients = 0;

  constructor(
    private readonly policy: RetryPolicy,
    private readonly random: () => number = Math.random,
  ) {}

  succeeded(): void {
    this.refusals = 0;
    this.transients = 0;
  }

  /** Records a failure; `minDelayMs` honours a server's Retry-After. */
  failed(kind: FailureKind, reason: string, minDelayMs = 0): RetryDecision {
    const count = kind === "refused" ? ++this.refusals : ++this.transients;
    const limit = kind === "refused" ? this.policy.maxRefusals : this.policy.maxTransientFailures;
    if (count >= limit)
      return {
        retry: false,
        reason: `${count} ${kind === "refused" ? "refusals" : "failures"} in a row, last: ${reason}`,
      };
    return { retry: true, delayMs: Math.max(minDelayMs, backoffDelay(this.policy, count, this.random)) };
  }
}
