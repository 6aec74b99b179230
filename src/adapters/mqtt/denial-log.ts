import type { Logger } from "../../logger.js";

interface Tally {
  count: number;
  readonly first: Record<string, unknown>;
}

/**
 * Denials cost one log line per client, reason and interval, not one per packet: the first is logged
 * at once with its detail, the rest are counted and summed up in one line when the interval ends (a
 * 60 KB SUBSCRIBE of denied filters used to write 2 MB of log). Metrics stay exact; this only shapes
 * the log. Bounded: past `maxKeys` distinct keys in one interval, the excess is counted as one.
 */
export class DenialLog {
  private tallies = new Map<string, Tally>();
  private overflow = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly logger: Logger,
    intervalMs = 10_000,
    private readonly maxKeys = 10_000,
  ) {
    this.timer = setInterval(() => this.flush(), intervalMs);
    this.timer.unref();
  }

  denied(deviceId: string | undefined, reason: string, fields: Record<string, unknown>): void {
    const key = `${deviceId ?? ""}\u0000${reason}`;
    const tally = this.tallies.get(key);
    if (tally !== undefined) {
      tally.count += 1;
      return;
    }
    if (this.tallies.size >= this.maxKeys) {
      this.overflow += 1;
      return;
    }
    const first = { service: "mqtt", deviceId, reason, ...fields };
    this.tallies.set(key, { count: 1, first });
    this.logger.warn(first, "denied");
  }

  flush(): void {
    for (const { count, first } of this.tallies.values()) {
      if (count > 1) this.logger.warn({ ...first, repeated: count - 1 }, "denied again (aggregated)");
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
