/**
 * The QoS 1 phase: devices publish to devices/{cn}/telemetry at a steady total rate, round robin,
 * and one subscriber (a service identity) must receive every message. Each payload carries its
 * sequence number so that delivery is checked message by message, not just counted.
 */
import type { MqttClient } from "mqtt";
import { performance } from "node:perf_hooks";
import type { Connected } from "./mqtt-load.js";

export interface TelemetryResult {
  readonly published: number;
  /** PUBACKs the publishers got from the broker. */
  readonly acked: number;
  /** Distinct sequence numbers the subscriber received. */
  readonly delivered: number;
  readonly duplicates: number;
  readonly wallSeconds: number;
}

export const TELEMETRY_FILTER = "devices/+/telemetry/#";

/** Subscribes `subscriber` (QoS 1) to every device's telemetry; throws if the broker refused it. */
export async function subscribeTelemetry(subscriber: MqttClient): Promise<void> {
  const granted = await subscriber.subscribeAsync(TELEMETRY_FILTER, { qos: 1 });
  if (granted[0]?.qos !== 1)
    throw new Error(`subscription to ${TELEMETRY_FILTER} refused (granted ${JSON.stringify(granted)})`);
}

/** Publishes `total` messages at `ratePerSecond`, then waits (at most `drainMs`) for the last delivery. */
export async function telemetryRun(
  publishers: readonly Connected[],
  subscriber: MqttClient,
  total: number,
  ratePerSecond: number,
  drainMs: number,
): Promise<TelemetryResult> {
  const seen = new Uint8Array(total);
  let delivered = 0;
  let duplicates = 0;
  let acked = 0;
  const onMessage = (_topic: string, payload: Buffer) => {
    const seq = Number(payload.toString("latin1"));
    if (!Number.isInteger(seq) || seq < 0 || seq >= total) return;
    if (seen[seq] === 1) return void duplicates++;
    seen[seq] = 1;
    delivered++;
  };
  subscriber.on("message", onMessage);
  const started = performance.now();
  let sent = 0;
  const publishDue = () => {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * ratePerSecond));
    for (; sent < due; sent++) {
      const device = publishers[sent % publishers.length]!;
      device.client.publish(`devices/${device.id}/telemetry`, String(sent), { qos: 1 }, (error) => {
        if (!error) acked++;
      });
    }
  };
  await until(() => (publishDue(), sent >= total), 5, (total / ratePerSecond) * 1000 + drainMs);
  await until(() => delivered >= total && acked >= total, 10, drainMs);
  const wallSeconds = (performance.now() - started) / 1000;
  subscriber.off("message", onMessage);
  return { published: sent, acked, delivered, duplicates, wallSeconds };
}

/** Polls `done` every `everyMs` until it holds or `timeoutMs` passes (a bounded loop either way). */
async function until(done: () => boolean, everyMs: number, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return true;
}
