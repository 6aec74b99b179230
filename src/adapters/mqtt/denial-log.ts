import type { Logger } from "../../logger.js";

interface Tally {
  count: number;
  readonly first: Record<string, unknown>;
  readonly msg: string;
}

/**
 * Denials cost a bounded number of log lines per client (or source address), reason and interval, not
 * one per packet: the first `linesPerKey` are logged at once with their detail, the rest are counted
 * and summed up in one line when the interval ends (a 60 KB SUBSCRIBE of denied filters used to write
 * 2 MB of log). Metrics stay exact; this only shapes the log. Memory is bounded too: past `maxKeys`
 * distinct keys in one interval, the excess is counted as one.
 */
export class DenialLog {
  private tallies = new Map<string, Tally>();
  private overflow = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly logger: Logger,
    private readonly options: {
      readonly intervalMs?: number;
      readonly linesPerKey?: number;
      readonly maxKeys?: number;
    } = {},
  ) {
    this.timer = setInterval(() => this.flush(), options.intervalMs ?? 10_000);
    this.timer.unref();
  }

  /** `who` is a device id or a source address; `msg` the log message of the individual lines. */
  denied(who: string | undefined, reason: string, fields: Record<string, unknown>, msg = "denied"): void {
    const key = `${who ?? ""}\u0000${reason}`;
    let tally = this.tallies.get(key);
    if (tally === undefined) {
      if (this.tallies.size >= (this.options.maxKeys ?? 10_000)) {
        this.overflow += 1;
        return;
      }
      tally = { count: 0, first: { service: "mqtt", reason, ...fields }, msg };
      this.tallies.set(key, tally);
    }
    tally.count += 1;
    if (tally.count <= (this.options.linesPerKey ?? 20)) this.logger.warn({ service: "mqtt", reason, ...fields }, msg);
  }

  flush(): void {
    const budget = this.options.linesPerKey ?? 20;
    for (const { count, first, msg } of this.tallies.values()) {
      if (count > budget) this.logger.warn({ ...first, repeated: count - budget }, `${msg} (more, aggregated)`);
    }
    if (this.overflow > 0)
      this.logger.warn({ service: "mqtt", repeated: this.overflow }, "denials from more clients (aggregated)");
    this.tallies = new Map();
    this.overflow = 0;
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
  }
}
