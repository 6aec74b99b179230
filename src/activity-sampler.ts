import { ACTIVITY_KEYS, type ActivitySeries } from "./app/fleet-overview.js";
import { RateSeries } from "./domain/rate-series.js";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";
import { activityTotals } from "./metrics-totals.js";
import type { Clock } from "./ports.js";

/**
 * Feeds the overview's 15-minute rate series from the server's own counters every `stepMs` (the
 * counters already count every enrollment and message; sampling them costs nothing per message).
 */
export function startActivitySampler(
  metrics: Metrics,
  clock: Clock,
  logger: Logger,
  stepMs = 5_000,
): { readonly series: ActivitySeries; stop(): void } {
  const series = new RateSeries(ACTIVITY_KEYS, 15 * 60_000, stepMs);
  const sample = () =>
    activityTotals(metrics).then(
      (totals) => series.sample(clock.now(), totals),
      (err: unknown) => logger.error({ err }, "activity sample failed"),
    );
  void sample(); // the baseline, so the first point comes one step after start-up
  const timer = setInterval(() => void sample(), stepMs);
  timer.unref();
  return { series, stop: () => clearInterval(timer) };
}
