import type { AedesPublishPacket } from "aedes";
import type { MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { enrollDevice, type EnrolledDevice, trackedConnections } from "../../helpers/devices.js";
import { startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";
import { killAllCli, mosquittoArgs, runCli, spawnCli } from "../../helpers/mqtt-cli.js";
import {
  closed,
  connectWithConnack,
  metricValue,
  recorder,
  subackCodes,
  until,
  waitForLogs,
} from "../../helpers/mqtt-kit.js";

type Seen = { topic: string; payload: string }[];

/**
 * One fleetgate plus enrolled dev-1..3 and svc-1, a connected service subscribed to all it may read, and a
 * broker-level tap.
 */
function fixture(overrides: Parameters<typeof startTestFleetgate>[0] = {}) {
  const state = {} as {
    fg: TestFleetgate;
    devs: EnrolledDevice[];
    svc: EnrolledDevice;
    service: MqttClient;
    serviceSeen: Seen;
    tap: string[];
  };
  const { clients, connect } = trackedConnections(() => state.fg);
  beforeAll(async () => {
    state.fg = await startTestFleetgate(overrides);
    const enrolled = await Promise.all([1, 2, 3].map((n) => enrollDevice(state.fg, `dev-${n}`)));
    state.devs = enrolled;
    state.svc = await enrollDevice(state.fg, "svc-1", "service");
    state.service = await connect(state.svc);
    state.serviceSeen = recorder(state.service);
    expect(
      await subackCodes(state.service, ["devices/+/telemetry/#", "devices/+/events/#", "devices/+/state"], 1),
    ).toEqual([1, 1, 1]);
    // Everything published under devices/, as the broker itself dispatches it (before any ACL on delivery).
    state.tap = [];
    await new Promise<void>((resolve) =>
      state.fg.running.gateway.broker.subscribe(
        "devices/#",
        (packet: AedesPublishPacket, done: () => void) => {
          state.tap.push(`${packet.topic} ${packet.payload.toString()}`);
          done();
        },
        resolve,
      ),
    );
  });
  afterAll(async () => {
    await killAllCli();
    await Promise.all(clients.map((client) => client.endAsync(true)));
    await state.fg?.close();
    for (const device of [...(state.devs ?? []), state.svc]) device?.cleanup();
  });
  const track = (client: MqttClient) => clients.push(client);
  return { state, connect, track };
}

describe("topic permissions (default: a forbidden publish disconnects)", () => {
  const { state, connect, track } = fixture();
  const dev = (n: number) => state.devs[n - 1]!;

  /**
   * dev-2 publishes on its own telemetry; once the service has it, anything published before it has been
   * dispatched.
   */
  async function sentinel(label: string): Promise<void> {
    const other = await connect(dev(2));
    await other.publishAsync("devices/dev-2/telemetry", label, { qos: 1 });
    await until(state.service, state.serviceSeen, (seen) => seen.some((m) => m.payload === label));
    await other.endAsync();
  }

  it("publishing on another device's topics (or on topics no rule allows) closes the connection and reaches nobody", async () => {
    const forbidden = [
      "devices/dev-2/telemetry",
      "devices/dev-2/state",
      "devices/dev-2/events/boot",
      "devices/dev-1/commands/x",
      "devices/dev-1/config",
      "devices/dev-1",
      "devices/dev-1/telemetryx",
      "$SYS/fake",
    ];
    const before = await metricValue(state.fg, "fleetgate_mqtt_denials_total", { reason: "publish_not_permitted" });
    for (const topic of forbidden) {
      const device = await connect(dev(1));
      const gone = closed(device);
      device.publish(topic, `forged:${topic}`, { qos: 1 });
      await gone;
      await waitForLogs(state.fg, { msg: "denied", deviceId: "dev-1", reason: "publish_not_permitted", topic });
    }
    const cli = await runCli("mosquitto_pub", [
      ...mosquittoArgs(state.fg, dev(1)),
      "-i",
      "dev-1",
      "-q",
      "1",
      "-t",
      "devices/dev-2/telemetry",
      "-m",
      "forged:cli",
    ]);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toContain("Error: The connection was lost.");
    await sentinel("sentinel-after-publishes");
    expect(await metricValue(state.fg, "fleetgate_mqtt_denials_total", { reason: "publish_not_permitted" })).toBe(
      before + forbidden.length + 1,
    );
    expect(state.tap.filter((line) => line.includes("forged"))).toEqual([]);
    expect(state.serviceSeen.filter((m) => m.payload.startsWith("forged"))).toEqual([]);
  });

  it("subscribing to another device's topics, or with + and # tricks, gets SUBACK 0x80 and delivers nothing", async () => {
    const tricks = [
      "devices/dev-2/commands/#",
      "devices/+/commands/#",
      "devices/#",
      "#",
      "+/+/commands/#",
      "$SYS/#",
      "+/dev-1/commands/#",
      "devices/dev-1/#",
      "devices/dev-1/+",
      "devices/+/config",
      "+/#",
    ];
    const device = await connect(dev(1));
    const seen = recorder(device);
    expect(await subackCodes(device, [...tricks, "devices/dev-1/commands/#"], 1)).toEqual([
      ...tricks.map(() => 128),
      1,
    ]);
    await waitForLogs(state.fg, { msg: "denied", deviceId: "dev-1", reason: "subscribe_not_permitted", topic: "+/#" });

    const other = await connect(dev(2));
    await other.publishAsync("devices/dev-2/telemetry", "dev-2 telemetry", { qos: 1 });
    await state.service.publishAsync("devices/dev-2/commands/open", "for dev-2", { qos: 1 });
    await state.service.publishAsync("devices/dev-3/config", "for dev-3", { qos: 1 });
    await state.service.publishAsync("devices/dev-1/commands/last", "mine", { qos: 1 });
    await until(device, seen, (messages) => messages.some((m) => m.payload === "mine"));
    // Aedes announces every connect on $SYS/<broker>/new/clients; dev-2's connect happened above.
    expect(seen).toEqual([{ topic: "devices/dev-1/commands/last", payload: "mine" }]);
    await Promise.all([device.endAsync(), other.endAsync()]);

    const sub = spawnCli("mosquitto_sub", [
      ...mosquittoArgs(state.fg, dev(1)),
      "-i",
      "dev-1",
      "-d",
      "-q",
      "1",
      "-C",
      "1",
      "-F",
      "MSG %t %p",
      "-t",
      "devices/dev-2/commands/#",
      "-t",
      "#",
      "-t",
      "$SYS/#",
      "-t",
      "devices/+/commands/#",
      "-t",
      "devices/dev-1/commands/#",
    ]);
    await sub.waitForStdout("received SUBACK");
    await state.service.publishAsync("devices/dev-2/commands/open", "for dev-2 again", { qos: 1 });
    await state.service.publishAsync("devices/dev-1/commands/last", "mine again", { qos: 1 });
    const result = await sub.exited;
    expect(result.stdout).toContain("Subscribed (mid: 1): 128, 128, 128, 128, 1");
    expect(result.stdout.split("\n").filter((line) => line.startsWith("MSG "))).toEqual([
      "MSG devices/dev-1/commands/last mine again",
    ]);
  });

  it("a will on a forbidden topic is never published; a will on the device's own topic is", async () => {
    const before = state.serviceSeen.length;
    const liar = await connect(dev(1), {
      will: { topic: "devices/dev-2/state", payload: Buffer.from("dev-2 is offline"), qos: 1, retain: false },
    });
    const gone = closed(liar);
    liar.stream.destroy(); // no DISCONNECT: the will is due
    await gone;
    await waitForLogs(state.fg, {
      msg: "denied",
      deviceId: "dev-1",
      reason: "publish_not_permitted",
      topic: "devices/dev-2/state",
    });

    const honest = await connect(dev(1), {
      will: { topic: "devices/dev-1/state", payload: Buffer.from("dev-1 is offline"), qos: 1, retain: false },
    });
    honest.stream.destroy();
    await until(state.service, state.serviceSeen, (seen) => seen.some((m) => m.payload === "dev-1 is offline"));
    expect(state.serviceSeen.slice(before).filter((m) => m.topic.endsWith("/state"))).toEqual([
      { topic: "devices/dev-1/state", payload: "dev-1 is offline" },
    ]);
    expect(state.tap.filter((line) => line.includes("dev-2 is offline"))).toEqual([]);
  });

  it("the service role reads every device's telemetry through devices/+/telemetry/# but gets no wider filter", async () => {
    const before = state.serviceSeen.length;
    for (const n of [1, 2, 3]) {
      const device = await connect(dev(n));
      await device.publishAsync(`devices/dev-${n}/telemetry`, `t${n}`, { qos: 1 });
      await device.publishAsync(`devices/dev-${n}/telemetry/power/volts`, `v${n}`, { qos: 1 });
      await device.endAsync();
    }
    await until(state.service, state.serviceSeen, (seen) => seen.some((m) => m.payload === "v3"));
    expect(state.serviceSeen.slice(before).map((m) => `${m.topic} ${m.payload}`)).toEqual([
      "devices/dev-1/telemetry t1",
      "devices/dev-1/telemetry/power/volts v1",
      "devices/dev-2/telemetry t2",
      "devices/dev-2/telemetry/power/volts v2",
      "devices/dev-3/telemetry t3",
      "devices/dev-3/telemetry/power/volts v3",
    ]);
    const extra = await connect(state.svc, { clientId: "svc-1" });
    state.service = extra; // the reconnect took svc-1's session over from the fixture's client
    expect(
      await subackCodes(extra, ["#", "devices/#", "devices/+/commands/#", "$SYS/#", "devices/+/telemetry/#"], 0),
    ).toEqual([128, 128, 128, 128, 0]);
    state.serviceSeen = recorder(extra);
  });

  it("a persistent session never gets a denied filter back, even one planted in the session store", async () => {
    const device = await connect(dev(1), { clean: false });
    expect(await subackCodes(device, ["devices/#", "devices/dev-1/commands/#"], 1)).toEqual([128, 1]);
    const persistence = (
      state.fg.running.gateway.broker as unknown as {
        persistence: {
          subscriptionsByClient(c: { id: string }): Promise<{ topic: string }[]>;
          addSubscriptions(c: { id: string }, s: object[]): Promise<void>;
        };
      }
    ).persistence;
    expect((await persistence.subscriptionsByClient({ id: "dev-1" })).map((s) => s.topic)).toEqual([
      "devices/dev-1/commands/#",
    ]);
    await device.endAsync();

    // As if stored before the ACL was narrowed: write past the filtering wrapper, straight into the store.
    const storeAdd = Object.getPrototypeOf(persistence).addSubscriptions as typeof persistence.addSubscriptions;
    await storeAdd.call(persistence, { id: "dev-1" }, [
      { topic: "devices/dev-2/commands/#", qos: 1 },
      { topic: "devices/dev-3/#", qos: 1 },
    ]);
    await state.service.publishAsync("devices/dev-2/commands/while-away", "not for dev-1", { qos: 1 });
    await state.service.publishAsync("devices/dev-1/commands/while-away", "queued for dev-1", { qos: 1 });

    const { client: again, connack } = await connectWithConnack(state.fg, dev(1), { clean: false });
    track(again);
    const seen = recorder(again);
    expect(connack.sessionPresent).toBe(true);
    await state.service.publishAsync("devices/dev-3/commands/live", "not for dev-1 either", { qos: 1 });
    await state.service.publishAsync("devices/dev-1/commands/live", "live for dev-1", { qos: 1 });
    await until(again, seen, (messages) => messages.some((m) => m.payload === "live for dev-1"));
    expect(seen.map((m) => m.payload)).toEqual(["queued for dev-1", "live for dev-1"]);
    await again.endAsync();
  });
});

describe("topic permissions with mqtt.onDeniedPublish = drop", () => {
  const { state, connect } = fixture({ mqtt: { host: "127.0.0.1", port: 0, onDeniedPublish: "drop" } });

  it("a forbidden publish is acknowledged, dropped and counted; the client stays connected and keeps working", async () => {
    const device = await connect(state.devs[0]!);
    let disconnected = false;
    device.on("close", () => (disconnected = true));
    const before = await metricValue(state.fg, "fleetgate_mqtt_denials_total", { reason: "publish_not_permitted" });
    await device.publishAsync("devices/dev-2/telemetry", "forged qos1", { qos: 1 });
    await device.publishAsync("devices/dev-2/state", "forged qos2", { qos: 2 });
    device.publish("devices/dev-1/commands/x", "forged qos0", { qos: 0 });
    await device.publishAsync("devices/dev-1/telemetry", "genuine", { qos: 1 });
    await until(state.service, state.serviceSeen, (seen) => seen.some((m) => m.payload === "genuine"));
    expect(state.serviceSeen).toEqual([{ topic: "devices/dev-1/telemetry", payload: "genuine" }]);
    expect(state.tap).toEqual(["devices/dev-1/telemetry genuine"]);
    expect(await metricValue(state.fg, "fleetgate_mqtt_denials_total", { reason: "publish_not_permitted" })).toBe(
      before + 3,
    );
    expect(disconnected).toBe(false);
    expect(device.connected).toBe(true);
  });
});
