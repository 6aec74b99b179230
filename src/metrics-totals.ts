import type { Counter } from "prom-client";
import type { ActivityKey, RefusalCounts } from "./app/fleet-overview.js";
import type { Metrics } from "./metrics.js";

/** Read-backs of fleetgate's own counters, for the overview (the same figures /metrics exports). */
async function countsBy<L extends string>(
  counter: Counter<L>,
  key: (labels: Partial<Record<L, string | number>>) => string,
) {
  const counts: Record<string, number> = {};
  for (const { labels, value } of (await counter.get()).values) {
    const name = key(labels);
    counts[name] = (counts[name] ?? 0) + value;
  }
  return counts;
}

async function total<L extends string>(
  counter: Counter<L>,
  keep: (labels: Partial<Record<L, string | number>>) => boolean = () => true,
) {
  let sum = 0;
  for (const { labels, value } of (await counter.get()).values) if (keep(labels)) sum += value;
  return sum;
}

/** Successful enrollments (and re-enrollments), PUBLISHes in, PUBLISHes out: the rates the overview plots. */
export async function activityTotals(metrics: Metrics): Promise<Record<ActivityKey, number>> {
  const [enrollments, messagesIn, messagesOut] = await Promise.all([
    total(metrics.enrollments, (labels) => labels.outcome === "ok"),
    total(metrics.mqttMessagesIn),
    total(metrics.mqttMessagesOut),
  ]);
  return { enrollments, messagesIn, messagesOut };
}

export async function refusalCounts(metrics: Metrics): Promise<RefusalCounts> {
  const reason = (labels: { reason?: string | number }) => String(labels.reason ?? "unknown");
  const [handshakeFailures, mqttRefusals, mqttDenials, httpRefusals] = await Promise.all([
    countsBy(metrics.mqttHandshakeFailures, reason),
    countsBy(metrics.mqttRefusals, reason),
    countsBy(metrics.mqttDenials, reason),
    countsBy(metrics.httpRefusals, (labels) => `${String(labels.service)}:${String(labels.code)}`),
  ]);
  return { handshakeFailures, mqttRefusals, mqttDenials, httpRefusals };
}
