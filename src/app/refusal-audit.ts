import { RefusalTally, type Refusal, type RefusalSummary } from "../domain/refusal-tally.js";
import type { AuditInput, Clock, Registry } from "../ports.js";
import { recordAudit } from "./audit-log.js";

export interface RefusalAuditDeps {
  readonly registry: Pick<Registry, "transact">;
  readonly clock: Clock;
  /** A summary that could not be written (the registry refused it): the caller logs it, counts included. */
  readonly onError: (error: unknown, summary: RefusalSummary) => void;
}

/**
 * Audits credential-less refusals without letting their rate become a rate of durable writes
 * (src/domain/refusal-tally.ts): the first refusal of an address in an interval is written before it
 * is answered; the others are counted and written as one summary entry (`details.count`) when the
 * interval ends, or when this closes. A crash loses at most the counts of the current interval.
 */
export class RefusalAudit {
  private readonly tally: RefusalTally;
  private readonly timer: ReturnType<typeof setInterval>;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: RefusalAuditDeps,
    intervalMs: number,
    maxAddresses = 10_000,
  ) {
    this.tally = new RefusalTally(intervalMs, maxAddresses);
    // A few ticks per interval: a summary is written at most a quarter interval (1 s at most) late.
    this.timer = setInterval(() => void this.flush(), Math.max(50, Math.min(1000, Math.floor(intervalMs / 4))));
    this.timer.unref();
  }

  /** Resolves once the refusal is durable (the first of its window) or counted (the others). */
  async refused(refusal: Refusal): Promise<void> {
    const now = this.deps.clock.now();
    if (this.tally.note(refusal, now) === "counted") return;
    const { action, address, code, url, detail } = refusal;
    await recordAudit(this.deps.registry, { ...entry(action, address), details: { code, detail, url } }, now);
  }

  /** Writes the summaries of every interval that has ended (the timer calls this). */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.write(this.tally.due(this.deps.clock.now())));
    return this.flushing;
  }

  /** Stops the timer and writes every count still held. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flushing;
    await this.write(this.tally.drain());
  }

  private async write(summaries: readonly RefusalSummary[]): Promise<void> {
    for (const summary of summaries) {
      const { action, address, count, codes, firstUrl, lastUrl, lastDetail } = summary;
      const details = {
        count,
        codes,
        firstUrl,
        lastUrl,
        detail: lastDetail,
        since: new Date(summary.since).toISOString(),
        until: new Date(summary.until).toISOString(),
      };
      const input: AuditInput = { ...entry(action, address), details };
      await recordAudit(this.deps.registry, input, this.deps.clock.now()).catch((error: unknown) =>
        this.deps.onError(error, summary),
      );
    }
  }
}

function entry(action: string, address: string): Pick<AuditInput, "actor" | "action" | "subject"> {
  return { actor: `address:${address}`, action, subject: null };
}
