import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConfigInput } from "../../../src/config.js";
import { connectDevice, enrollDevice, type EnrolledDevice, trackedConnections } from "../../helpers/devices.js";
import { startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";
import { killAllCli, mosquittoArgs, runCli } from "../../helpers/mqtt-cli.js";
import { closed, countLogs, eventually, metricValue, recorder, until, waitForLogs } from "../../helpers/mqtt-kit.js";

const TOPIC = "devices/dev-1/telemetry"; // 23 bytes

/**
 * One fleetgate with the given mqtt limits, dev-1..3 and svc-1 enrolled. Enrollment is HTTPS, so it does not
 * use up MQTT limits.
 */
function fixture(mqtt: NonNullable<ConfigInput["mqtt"]>) {
  const state = {} as { fg: TestFleetgate; devs: EnrolledDevice[]; svc: EnrolledDevice };
  const { clients, connect } = trackedConnections(() => state.fg);
  beforeAll(async () => {
    state.fg = await startTestFleetgate({ mqtt: { host: "127.0.0.1", port: 0, ...mqtt } });
    state.devs = await Promise.all([1, 2, 3].map((n) => enrollDevice(state.fg, `dev-${n}`)));
    state.svc = await enrollDevice(state.fg, "svc-1", "service");
  });
  afterAll(async () => {
    await killAllCli();
    await Promise.all(clients.map((client) => client.endAsync(true)));
    await state.fg?.close();
    for (const device of [...(state.devs ?? []), state.svc]) device?.cleanup();
  });
  return { state, connect, dev: (n: number) => state.devs[n - 1]! };
}

const denials = (fg: TestFleetgate, reason: string) => metricValue(fg, "fleetgate_mqtt_denials_total", { reason });

describe("mqtt.maxPacketSize = 1024", () => {
  const { state, connect, dev } = fixture({ maxPacketSize: 1024 });

  it("a 1024-byte PUBLISH passes; a 1025-byte one closes the connection before it is parsed; others are unaffected", async () => {
    const service = await connect(state.svc);
    const seen = recorder(service);
    await service.subscribeAsync("devices/+/telemetry/#", { qos: 0 });
    const device = await connect(dev(1));
    const before = await denials(state.fg, "packet_too_large");

    // QoS 0 PUBLISH: 1 type byte + 2 length bytes + (2 + 23 topic bytes) + payload.
    device.publish(TOPIC, "a".repeat(1024 - 28), { qos: 0 });
    await until(service, seen, (messages) => messages.length === 1);
    expect(seen[0]!.payload).toHaveLength(996);

    const gone = closed(device);
    device.publish(TOPIC, "b".repeat(1025 - 28), { qos: 0 });
    await gone;
    await waitForLogs(state.fg, { msg: "denied", reason: "packet_too_large", size: 1025, limit: 1024 });

    const cli = await runCli("mosquitto_pub", [
      ...mosquittoArgs(state.fg, dev(1)),
      "-i",
      "dev-1",
      "-q",
      "1",
      "-t",
      TOPIC,
      "-m",
      "c".repeat(5000),
    ]);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toContain("Error: The connection was lost.");
    await waitForLogs(state.fg, { msg: "denied", reason: "packet_too_large", size: 1 + 2 + 2 + 23 + 2 + 5000 });
    expect(await denials(state.fg, "packet_too_large")).toBe(before + 2);

    // The service and other devices carry on; dev-1 itself may reconnect and send within the limit.
    const other = await connect(dev(2));
    await other.publishAsync("devices/dev-2/telemetry", "small", { qos: 1 });
    const again = await connect(dev(1));
    await again.publishAsync(TOPIC, "small again", { qos: 1 });
    await until(service, seen, (messages) => messages.some((m) => m.payload === "small again"));
    expect(seen.map((m) => m.payload.slice(0, 11))).toEqual(["a".repeat(11), "small", "small again"]);
  });
});

describe("mqtt.publishRate = 2 messages burst, (practically) no refill", () => {
  // perSecond 0.001: a token per 1000 s, so the outcome cannot depend on how fast the test runs.
  const { state, connect, dev } = fixture({ publishRate: { perSecond: 0.001, burst: 2 } });

  it("the 3rd and later immediate messages are dropped and counted; the client stays connected; others have their own bucket", async () => {
    const service = await connect(state.svc);
    const seen = recorder(service);
    await service.subscribeAsync("devices/+/telemetry/#", { qos: 1 });
    const device = await connect(dev(1));
    let disconnected = false;
    device.on("close", () => (disconnected = true));
    const before = await denials(state.fg, "publish_rate_exceeded");

    for (const n of [1, 2, 3, 4, 5]) await device.publishAsync(TOPIC, `m${n}`, { qos: 1 }); // each one acknowledged
    const cli = await runCli("mosquitto_pub", [
      ...mosquittoArgs(state.fg, dev(3)),
      "-i",
      "dev-3",
      "-q",
      "1",
      "--repeat",
      "4",
      "-t",
      "devices/dev-3/telemetry",
      "-m",
      "r",
    ]);
    expect(cli).toMatchObject({ code: 0, stderr: "" });
    const other = await connect(dev(2));
    await other.publishAsync("devices/dev-2/telemetry", "sentinel", { qos: 1 });
    await until(service, seen, (messages) => messages.some((m) => m.payload === "sentinel"));

    expect(seen.map((m) => `${m.topic} ${m.payload}`)).toEqual([
      `${TOPIC} m1`,
      `${TOPIC} m2`,
      "devices/dev-3/telemetry r",
      "devices/dev-3/telemetry r",
      "devices/dev-2/telemetry sentinel",
    ]);
    expect(await denials(state.fg, "publish_rate_exceeded")).toBe(before + 3 + 2);
    expect(disconnected).toBe(false);
    expect(device.connected).toBe(true);
  });
});

describe("mqtt.connectRatePerAddress = burst 3, (practically) no refill", () => {
  const { state, connect, dev } = fixture({ connectRatePerAddress: { perSecond: 0.001, burst: 3 } });

  it("connections past the burst from one address are closed before any TLS work", async () => {
    const handshakeFailures = await metricValue(state.fg, "fleetgate_mqtt_handshake_failures_total");
    const first = await Promise.all([1, 2, 3].map((n) => connect(dev(n))));
    expect(first.every((client) => client.connected)).toBe(true);

    await expect(connectDevice(state.fg, state.svc)).rejects.toMatchObject({ code: "ECONNRESET" });
    await Promise.all(first.map((client) => client.endAsync()));
    // A rate, not a cap: closing connections gives no new tokens.
    await expect(connectDevice(state.fg, dev(1))).rejects.toMatchObject({ code: "ECONNRESET" });
    const cli = await runCli("mosquitto_pub", [
      ...mosquittoArgs(state.fg, dev(2)),
      "-i",
      "dev-2",
      "-t",
      "devices/dev-2/telemetry",
      "-m",
      "x",
    ]);
    expect(cli.code).not.toBe(0);

    await waitForLogs(
      state.fg,
      { msg: "connection refused before handshake", reason: "connection_rate_exceeded", ip: "127.0.0.1" },
      3,
    );
    expect(await denials(state.fg, "connection_rate_exceeded")).toBe(3);
    expect(await metricValue(state.fg, "fleetgate_mqtt_handshake_failures_total")).toBe(handshakeFailures);
    expect(countLogs(state.fg, { msg: "TLS handshake failed" })).toBe(0);
  });
});

describe("mqtt.maxConnections = 2", () => {
  const { state, connect, dev } = fixture({ maxConnections: 2 });
  const openConnections = () => metricValue(state.fg, "fleetgate_mqtt_connections");

  it("a third concurrent connection is closed before the handshake; a slot freed by a disconnect can be reused", async () => {
    const one = await connect(dev(1));
    await connect(dev(2));
    expect(await openConnections()).toBe(2);

    await expect(connectDevice(state.fg, dev(3))).rejects.toMatchObject({ code: "ECONNRESET" });
    const cli = await runCli("mosquitto_pub", [
      ...mosquittoArgs(state.fg, dev(3)),
      "-i",
      "dev-3",
      "-t",
      "devices/dev-3/telemetry",
      "-m",
      "x",
    ]);
    expect(cli.code).not.toBe(0);
    await waitForLogs(state.fg, { msg: "connection refused before handshake", reason: "connection_limit_reached" }, 2);
    expect(await denials(state.fg, "connection_limit_reached")).toBe(2);

    await one.endAsync();
    await eventually(async () => (await openConnections()) === 1, "the server to see dev-1's socket close");
    const three = await connect(dev(3));
    expect(three.connected).toBe(true);
    expect(await openConnections()).toBe(2);
  });
});
