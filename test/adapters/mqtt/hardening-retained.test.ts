import type { MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { revokeDevice } from "../../../src/app/revoke-device.js";
import type { ConfigInput } from "../../../src/config.js";
import { connectDevice, enrollDevice, type EnrolledDevice } from "../../helpers/devices.js";
import { startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";
import { metricValue, recorder, until, waitForLogs } from "../../helpers/mqtt-kit.js";

/*
 * Hardening, break 5 ("retained messages unbounded and outliving revocation"). Pre-fix (2cd67a4), any
 * device could keep a retained message of up to mqtt.maxPacketSize on every topic it may publish, with
 * no limit at all, and they stayed after the device was revoked, delivered to every new subscriber.
 * Promises protected here:
 *  - mqtt.retained.maxPerDevice / maxBytesPerDevice / maxTotalBytes, and per role (maxPerDevice 0 =
 *    may not retain): a retained PUBLISH over quota is delivered to current subscribers but not
 *    retained, counted as retained_limit_reached; replacing or clearing one's own retained topic does
 *    not count twice;
 *  - after a revocation, the device's retained messages are gone (its own namespace, and whatever
 *    else it retained), other devices' stay.
 */

interface Fixture {
  readonly state: { fg: TestFleetgate; devs: Map<string, EnrolledDevice> };
  connect(id: string): Promise<MqttClient>;
  retained(): Promise<Record<string, string>>;
  denials(): Promise<number>;
}

function fixture(overrides: ConfigInput, ids: [string, string][]): Fixture {
  const state = {} as Fixture["state"];
  const clients: MqttClient[] = [];
  beforeAll(async () => {
    state.fg = await startTestFleetgate(overrides);
    const enrolled = await Promise.all(ids.map(([id, profile]) => enrollDevice(state.fg, id, profile)));
    state.devs = new Map(enrolled.map((d) => [d.id, d]));
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.endAsync(true)));
    await state.fg?.close();
    for (const device of state.devs?.values() ?? []) device.cleanup();
  });
  return {
    state,
    async connect(id) {
      const client = await connectDevice(state.fg, state.devs.get(id)!);
      clients.push(client);
      return client;
    },
    /** What the broker's store holds retained, topic → payload (read from the store itself). */
    async retained() {
      const persistence = (state.fg.running.gateway.broker as unknown as { persistence: unknown }).persistence as {
        createRetainedStream(pattern: string): AsyncIterable<{ topic: string; payload: Buffer }>;
      };
      const out: Record<string, string> = {};
      for await (const packet of persistence.createRetainedStream("#")) out[packet.topic] = packet.payload.toString();
      return out;
    },
    denials: () => metricValue(state.fg, "fleetgate_mqtt_denials_total", { reason: "retained_limit_reached" }),
  };
}

const retain = { qos: 1 as const, retain: true };

describe("per-device quota: 3 retained topics, 1,000 bytes", () => {
  const f = fixture({ mqtt: { host: "127.0.0.1", port: 0, retained: { maxPerDevice: 3, maxBytesPerDevice: 1000 } } }, [
    ["dev-1", "device"],
    ["dev-2", "device"],
    ["svc-1", "service"],
  ]);

  it("a 4th topic is delivered, not retained; replacing or clearing one's own does not count twice", async () => {
    const service = await f.connect("svc-1");
    const seen = recorder(service);
    await service.subscribeAsync(["devices/+/state", "devices/+/telemetry/#", "devices/+/events/#"], { qos: 1 });
    const device = await f.connect("dev-1");
    await device.publishAsync("devices/dev-1/state", "s1", retain);
    await device.publishAsync("devices/dev-1/telemetry", "t1", retain);
    await device.publishAsync("devices/dev-1/events/a", "a1", retain);
    const before = await f.denials();
    await device.publishAsync("devices/dev-1/events/b", "b1", retain);
    await until(service, seen, (m) => m.some((x) => x.payload === "b1"));
    expect(await f.denials()).toBe(before + 1);
    await waitForLogs(f.state.fg, {
      msg: "denied",
      reason: "retained_limit_reached",
      topic: "devices/dev-1/events/b",
      detail: "device_message_limit",
    });
    expect(await f.retained()).toEqual({
      "devices/dev-1/state": "s1",
      "devices/dev-1/telemetry": "t1",
      "devices/dev-1/events/a": "a1",
    });

    // Replacing a retained topic of one's own stays within the count, again and again.
    for (const n of [2, 3, 4]) await device.publishAsync("devices/dev-1/state", `s${n}`, retain);
    // Clearing one (an empty retained payload [MQTT-3.3.1-10]) frees its slot.
    await device.publishAsync("devices/dev-1/events/a", "", retain);
    await device.publishAsync("devices/dev-1/events/b", "b2", retain);
    expect(await f.retained()).toEqual({
      "devices/dev-1/state": "s4",
      "devices/dev-1/telemetry": "t1",
      "devices/dev-1/events/b": "b2",
    });
    expect(await f.denials()).toBe(before + 1);
    expect(device.connected).toBe(true);
  });

  it("bytes: a retained PUBLISH that would pass 1,000 bytes in all is not retained; a replacement counts once", async () => {
    const device = await f.connect("dev-2");
    const before = await f.denials();
    await device.publishAsync("devices/dev-2/state", "x".repeat(600), retain);
    await device.publishAsync("devices/dev-2/telemetry", "y".repeat(500), retain); // 1,100
    expect(await f.denials()).toBe(before + 1);
    await waitForLogs(f.state.fg, { msg: "denied", reason: "retained_limit_reached", detail: "device_byte_limit" });
    await device.publishAsync("devices/dev-2/state", "z".repeat(1000), retain); // replaces the 600: 1,000
    const kept = await f.retained();
    expect(kept["devices/dev-2/state"]).toBe("z".repeat(1000));
    expect(kept["devices/dev-2/telemetry"]).toBeUndefined();
    expect(await f.denials()).toBe(before + 1);
  });
});

describe("broker total: 2,500 bytes retained; role `sensor` may not retain", () => {
  const f = fixture(
    {
      mqtt: {
        host: "127.0.0.1",
        port: 0,
        retained: {
          maxPerDevice: 10,
          maxBytesPerDevice: 1000,
          maxTotalBytes: 2500,
          roles: { sensor: { maxPerDevice: 0 } },
        },
      },
      profiles: { sensor: { role: "sensor", lifetime: "1d" } },
      acl: { sensor: { publish: ["devices/{cn}/telemetry"], subscribe: [] } },
    },
    [
      ["dev-3", "device"],
      ["dev-4", "device"],
      ["dev-5", "device"],
      ["sen-1", "sensor"],
      ["svc-1", "service"],
    ],
  );

  it("the retained PUBLISH that would pass the total is not retained, whoever sends it", async () => {
    const before = await f.denials();
    for (const id of ["dev-3", "dev-4", "dev-5"]) {
      const device = await f.connect(id);
      await device.publishAsync(`devices/${id}/state`, "r".repeat(900), retain);
    }
    expect(await f.denials()).toBe(before + 1);
    await waitForLogs(f.state.fg, { msg: "denied", reason: "retained_limit_reached", detail: "total_byte_limit" });
    expect(Object.keys(await f.retained()).sort()).toEqual(["devices/dev-3/state", "devices/dev-4/state"]);
  });

  it("a role with maxPerDevice 0 has its retained PUBLISH delivered, never retained", async () => {
    const service = await f.connect("svc-1");
    const seen = recorder(service);
    await service.subscribeAsync("devices/+/telemetry/#", { qos: 1 });
    const sensor = await f.connect("sen-1");
    const before = await f.denials();
    await sensor.publishAsync("devices/sen-1/telemetry", "small", retain);
    await until(service, seen, (m) => m.some((x) => x.payload === "small"));
    expect(await f.denials()).toBe(before + 1);
    await waitForLogs(f.state.fg, { msg: "denied", reason: "retained_limit_reached", detail: "retain_disabled" });
    expect(Object.keys(await f.retained())).not.toContain("devices/sen-1/telemetry");
  });
});

describe("a revoked device's retained messages", () => {
  const f = fixture({}, [
    ["dev-1", "device"],
    ["dev-2", "device"],
    ["svc-1", "service"],
    ["svc-2", "service"],
    ["svc-3", "service"],
  ]);

  /** Subscribes and collects the retained messages sent for it, up to the sentinel retained last. */
  async function retainedSeenBy(id: string, filters: string[]): Promise<string[]> {
    const client = await f.connect(id);
    const seen = recorder(client);
    // Aedes sends retained messages filter by filter, in order: the sentinel's filter comes last.
    await client.subscribeAsync([...filters, "devices/dev-2/events/sentinel"], { qos: 1 });
    await until(client, seen, (m) => m.some((x) => x.topic === "devices/dev-2/events/sentinel"));
    await client.endAsync();
    return seen.filter((m) => m.topic !== "devices/dev-2/events/sentinel").map((m) => `${m.topic} ${m.payload}`);
  }

  it("are gone after a keyCompromise revocation; other devices' stay", async () => {
    const dev1 = await f.connect("dev-1");
    const dev2 = await f.connect("dev-2");
    for (const topic of ["state", "telemetry", "telemetry/gps", "events/boot"]) {
      await dev1.publishAsync(`devices/dev-1/${topic}`, `dev-1 ${topic}`, retain);
      await dev2.publishAsync(`devices/dev-2/${topic}`, `dev-2 ${topic}`, retain);
    }
    await dev2.publishAsync("devices/dev-2/events/sentinel", "sentinel", retain);
    // A service's retained command to dev-2, and one to dev-1 by another service.
    const svc1 = await f.connect("svc-1");
    await svc1.publishAsync("devices/dev-2/config", "config from svc-1", retain);
    const svc3 = await f.connect("svc-3");
    await svc3.publishAsync("devices/dev-1/config", "config from svc-3", retain);

    const filters = ["devices/+/state", "devices/+/telemetry/#", "devices/+/events/#"];
    expect(await retainedSeenBy("svc-2", filters)).toHaveLength(8);

    await revokeDevice(f.state.fg.running.revocation, "dev-1", "keyCompromise", "test");
    await revokeDevice(f.state.fg.running.revocation, "svc-1", "keyCompromise", "test");
    expect((await retainedSeenBy("svc-2", filters)).sort()).toEqual(
      [
        "devices/dev-2/state dev-2 state",
        "devices/dev-2/telemetry dev-2 telemetry",
        "devices/dev-2/telemetry/gps dev-2 telemetry/gps",
        "devices/dev-2/events/boot dev-2 events/boot",
      ].sort(),
    );
    const kept = await f.retained();
    expect(Object.keys(kept).filter((t) => t.startsWith("devices/dev-1/"))).toEqual(["devices/dev-1/config"]);
    // The revoked service's retained command is gone too; the other service's stays.
    expect(kept["devices/dev-2/config"]).toBeUndefined();
    expect(kept["devices/dev-1/config"]).toBe("config from svc-3");
  });
});
