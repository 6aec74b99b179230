import type { MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConfigInput } from "../../../src/config.js";
import { connectDevice, enrollDevice, type EnrolledDevice } from "../../helpers/devices.js";
import { startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";
import { connectWithConnack, metricValue, recorder, subackCodes, until } from "../../helpers/mqtt-kit.js";

/*
 * Hardening, break 7(c). Pre-fix (2cd67a4 hooks.ts), a dropped publish was re-addressed to
 * `$fleetgate/dropped/<device>`: a role whose template reached `$fleetgate/...` received every dropped
 * message, and Aedes's offline enqueue (aedes.js enqueueOffline filters wildcards only for $SYS) queued
 * them for persistent `#` subscribers. Promises protected here: a publish dropped by the rate limit or
 * by mqtt.onDeniedPublish "drop" is delivered to nobody, live or offline, whatever filter a role may
 * hold (`#`, `devices/#`), and it takes no room in anyone's queue (mqtt.maxOutgoingQueue).
 */

const roles: ConfigInput = {
  profiles: { archiver: { role: "archiver", lifetime: "1d" }, wide: { role: "wide", lifetime: "1d" } },
  acl: {
    archiver: { publish: [], subscribe: ["#"] },
    wide: { publish: [], subscribe: ["devices/#"] },
  },
};

function fixture(mqtt: NonNullable<ConfigInput["mqtt"]>) {
  const state = {} as { fg: TestFleetgate; devs: Map<string, EnrolledDevice> };
  const clients: MqttClient[] = [];
  const ids: [string, string][] = [
    ["dev-1", "device"],
    ["dev-2", "device"],
    ["dev-3", "device"],
    ["arch-live", "archiver"],
    ["arch-off", "archiver"],
    ["wide-1", "wide"],
  ];
  beforeAll(async () => {
    state.fg = await startTestFleetgate({
      ...roles,
      mqtt: { host: "127.0.0.1", port: 0, maxOutgoingQueue: 5, ...mqtt },
    });
    state.devs = new Map(
      (await Promise.all(ids.map(([id, p]) => enrollDevice(state.fg, id, p)))).map((d) => [d.id, d]),
    );
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.endAsync(true)));
    await state.fg?.close();
    for (const device of state.devs?.values() ?? []) device.cleanup();
  });
  async function connect(id: string, extra = {}): Promise<MqttClient> {
    const client = await connectDevice(state.fg, state.devs.get(id)!, extra);
    clients.push(client);
    return client;
  }

  /** Live `#` and `devices/#` subscribers, and a persistent `#` subscriber gone offline. */
  async function subscribers() {
    const offline = await connect("arch-off", { clean: false });
    expect(await subackCodes(offline, ["#"], 1)).toEqual([1]);
    await offline.endAsync();
    const archiver = await connect("arch-live");
    expect(await subackCodes(archiver, ["#"], 2)).toEqual([2]);
    const wide = await connect("wide-1");
    expect(await subackCodes(wide, ["devices/#"], 2)).toEqual([2]);
    return { archiver: recorder(archiver), archiverClient: archiver, wide: recorder(wide), wideClient: wide };
  }

  /** What the offline subscriber finds when it comes back (everything queued for it, then a fresh sentinel). */
  async function offlineQueue(): Promise<string[]> {
    const persistence = (state.fg.running.gateway.broker as unknown as { persistence: unknown }).persistence as {
      outgoingStream(client: { id: string }): AsyncIterable<{ topic: string }>;
    };
    const queued: string[] = [];
    for await (const packet of persistence.outgoingStream({ id: "arch-off" })) queued.push(packet.topic);
    const { client, connack } = await connectWithConnack(state.fg, state.devs.get("arch-off")!, { clean: false });
    clients.push(client);
    expect(connack.sessionPresent).toBe(true);
    const seen = recorder(client);
    const dev3 = await connect("dev-3"); // a token of its own
    await dev3.publishAsync("devices/dev-3/events/back", "back", { qos: 1 });
    await until(client, seen, (m) => m.some((x) => x.payload === "back"));
    expect(seen.map((m) => m.payload)).toEqual(["ok", "sentinel", "back"]);
    return queued;
  }

  async function retainedTopics(): Promise<string[]> {
    const persistence = (state.fg.running.gateway.broker as unknown as { persistence: unknown }).persistence as {
      createRetainedStream(pattern: string): AsyncIterable<{ topic: string }>;
    };
    const topics: string[] = [];
    for await (const packet of persistence.createRetainedStream("#")) topics.push(packet.topic);
    return topics;
  }

  const denials = (reason: string) => metricValue(state.fg, "fleetgate_mqtt_denials_total", { reason });
  return { state, connect, subscribers, offlineQueue, retainedTopics, denials };
}

describe("rate-dropped publishes (publishRate burst 1, practically no refill)", () => {
  const f = fixture({ publishRate: { perSecond: 0.001, burst: 1 } });

  it("reach no `#` or `devices/#` subscriber, live or offline, and fill nobody's queue", async () => {
    const live = await f.subscribers();
    const device = await f.connect("dev-1");
    await device.publishAsync("devices/dev-1/telemetry", "ok", { qos: 1 });
    for (let n = 0; n < 10; n++) await device.publishAsync("devices/dev-1/telemetry", `dropped ${n}`, { qos: 1 });
    for (let n = 0; n < 3; n++) await device.publishAsync("devices/dev-1/events/x", `dropped2 ${n}`, { qos: 2 });
    device.publish("devices/dev-1/state", "dropped0", { qos: 0, retain: true });
    const sentinel = await f.connect("dev-2");
    await sentinel.publishAsync("devices/dev-2/telemetry", "sentinel", { qos: 1 });
    await until(live.archiverClient, live.archiver, (m) => m.some((x) => x.payload === "sentinel"));
    await until(live.wideClient, live.wide, (m) => m.some((x) => x.payload === "sentinel"));
    expect(live.archiver.map((m) => m.payload)).toEqual(["ok", "sentinel"]);
    expect(live.wide.map((m) => m.payload)).toEqual(["ok", "sentinel"]);
    expect(await f.denials("publish_rate_exceeded")).toBe(14);
    expect(await f.retainedTopics()).toEqual([]);
    expect(await f.denials("outgoing_queue_full")).toBe(0);
    expect(await f.offlineQueue()).toEqual(["devices/dev-1/telemetry", "devices/dev-2/telemetry"]);
    expect(device.connected).toBe(true);
  });
});

describe('mqtt.onDeniedPublish: "drop"', () => {
  const f = fixture({ onDeniedPublish: "drop" });

  it("forbidden publishes reach no `#` or `devices/#` subscriber, live or offline; the publisher stays", async () => {
    const live = await f.subscribers();
    const device = await f.connect("dev-1");
    await device.publishAsync("devices/dev-1/telemetry", "ok", { qos: 1 });
    for (let n = 0; n < 10; n++) await device.publishAsync("devices/dev-2/telemetry", `forged ${n}`, { qos: 1 });
    for (let n = 0; n < 3; n++) await device.publishAsync("elsewhere/x", `forged2 ${n}`, { qos: 2, retain: true });
    const sentinel = await f.connect("dev-2");
    await sentinel.publishAsync("devices/dev-2/telemetry", "sentinel", { qos: 1 });
    await until(live.archiverClient, live.archiver, (m) => m.some((x) => x.payload === "sentinel"));
    await until(live.wideClient, live.wide, (m) => m.some((x) => x.payload === "sentinel"));
    expect(live.archiver.map((m) => m.payload)).toEqual(["ok", "sentinel"]);
    expect(live.wide.map((m) => m.payload)).toEqual(["ok", "sentinel"]);
    expect(await f.denials("publish_not_permitted")).toBe(13);
    expect(await f.retainedTopics()).toEqual([]);
    expect(await f.denials("outgoing_queue_full")).toBe(0);
    expect(await f.offlineQueue()).toEqual(["devices/dev-1/telemetry", "devices/dev-2/telemetry"]);
    expect(device.connected).toBe(true);
  });
});
