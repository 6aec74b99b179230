import type { FleetProgress } from "./types.js";

/** One sample of the fleet every second: what the HTML report plots over time. */
export interface TimelineSample {
  /** ms since the run started. */
  readonly t: number;
  readonly online: number;
  /** Telemetry acknowledged by the broker so far (cumulative). */
  readonly sent: number;
  /** Telemetry received by the backend consumer so far (cumulative). */
  readonly received: number;
}

/**
 * Samples the fleet's progress at a fixed interval (a few numbers a second: an hour is 3,600 samples),
 * from the scheduler's tick, which already runs for the devices.
 */
export class Timeline {
  readonly samples: TimelineSample[] = [];
  private last = -Infinity;

  constructor(private readonly intervalMs = 1_000) {}

  offer(progress: FleetProgress): void {
    if (progress.elapsedMs - this.last < this.intervalMs) return;
    this.last = progress.elapsedMs;
    const { online, sent, received } = progress;
    this.samples.push({ t: progress.elapsedMs, online, sent, received });
  }
}
