import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDevice, enrollDevice, type EnrolledDevice } from "../../helpers/devices.js";
import { startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";
import { metricValue, subackCodes } from "../../helpers/mqtt-kit.js";

/*
 * Hardening, break 6 ("log and CPU amplification"). Pre-fix (2cd67a4 hooks.ts denied()), every denied
 * filter and every rate-dropped publish wrote a warn line: one 60 KB SUBSCRIBE of denied filters
 * produced 2 MB of log. Promise protected: denials cost at most 20 lines per (client, reason) per 10 s
 * interval, the rest is summed up in one line per key at the end of the interval (or at shutdown);
 * fleetgate_mqtt_denials_total counts every one. The interval is 10 s, so a flood shorter than that
 * touches at most two intervals: at most 40 individual lines per key.
 */

const LINES_PER_KEY = 20;

let fg: TestFleetgate;
let devs: EnrolledDevice[];
let closed = false;

beforeAll(async () => {
  fg = await startTestFleetgate({ mqtt: { host: "127.0.0.1", port: 0, publishRate: { perSecond: 0.001, burst: 1 } } });
  devs = await Promise.all(["dev-1", "dev-2"].map((id) => enrollDevice(fg, id)));
});
afterAll(async () => {
  if (!closed) await fg?.close();
  for (const device of devs ?? []) device.cleanup();
});

const denials = (reason: string) => metricValue(fg, "fleetgate_mqtt_denials_total", { reason });
const matching = (match: Record<string, unknown>) =>
  fg.logs.lines.filter((line) => Object.entries(match).every(([k, v]) => line[k] === v));

describe("a flood of denials", () => {
  it("costs a bounded number of log lines, aggregated with exact counts; the metric counts each", async () => {
    const publisher = await connectDevice(fg, devs[0]!);
    const rateBefore = await denials("publish_rate_exceeded");
    const published = 3_000;
    for (let n = 0; n < published - 1; n++) publisher.publish("devices/dev-1/telemetry", `m${n}`, { qos: 0 });
    await publisher.publishAsync("devices/dev-1/telemetry", "last", { qos: 1 }); // its PUBACK: all were handled
    const dropped = (await denials("publish_rate_exceeded")) - rateBefore;
    expect(dropped).toBe(published - 1); // the first one had the bucket's only token

    // 20 SUBSCRIBEs of 64 denied filters of ~900 bytes each (~59 KB per packet).
    const subscriber = await connectDevice(fg, devs[1]!);
    const deniedBefore = await denials("subscribe_not_permitted");
    const filters = Array.from(
      { length: 64 },
      (_, i) => `devices/dev-1/commands/${String(i).padStart(3, "0")}/${"x".repeat(880)}`,
    );
    for (let round = 0; round < 20; round++)
      expect(await subackCodes(subscriber, filters)).toEqual(Array(64).fill(128));
    expect((await denials("subscribe_not_permitted")) - deniedBefore).toBe(20 * 64);

    const individualRate = matching({ msg: "denied", reason: "publish_rate_exceeded", deviceId: "dev-1" });
    const individualSubscribe = matching({ msg: "denied", reason: "subscribe_not_permitted", deviceId: "dev-2" });
    expect(individualRate.length).toBeGreaterThanOrEqual(LINES_PER_KEY);
    expect(individualRate.length).toBeLessThanOrEqual(2 * LINES_PER_KEY);
    expect(individualSubscribe.length).toBeLessThanOrEqual(2 * LINES_PER_KEY);
    await publisher.endAsync();
    await subscriber.endAsync();

    // Shutdown flushes the counts of the interval still open.
    await fg.close();
    closed = true;
    const aggregated = (reason: string) =>
      matching({ msg: "denied (more, aggregated)", reason }).reduce(
        (sum, line) => sum + (line["repeated"] as number),
        0,
      );
    expect(individualRate.length + aggregated("publish_rate_exceeded")).toBe(dropped);
    expect(
      matching({ msg: "denied", reason: "subscribe_not_permitted" }).length + aggregated("subscribe_not_permitted"),
    ).toBe(20 * 64);
    const bytes = matching({ reason: "subscribe_not_permitted" }).reduce(
      (sum, line) => sum + JSON.stringify(line).length,
      0,
    );
    console.log(
      `${dropped} dropped publishes → ${individualRate.length} lines + aggregated; ` +
        `1,280 denied filters (${((20 * 64 * 900) / 1e6).toFixed(1)} MB of filters) → ${(bytes / 1e3).toFixed(1)} kB of log`,
    );
    expect(bytes).toBeLessThan(2 * LINES_PER_KEY * 1_200 + 10_000);
  });
});
