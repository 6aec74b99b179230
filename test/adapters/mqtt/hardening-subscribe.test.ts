import type { Subscription } from "aedes";
import type { MqttClient } from "mqtt";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMemoryPersistence } from "../../../src/adapters/mqtt/memory-persistence.js";
import type { AedesPersistence } from "../../../src/adapters/shared/aedes-persistence.js";
import { revokeDevice } from "../../../src/app/revoke-device.js";
import { connectDevice, enrollDevice, mqttOptions, type EnrolledDevice } from "../../helpers/devices.js";
import { startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";
import { startExtraGateway, valueOf, type ExtraGateway } from "../../helpers/mqtt-gateway.js";
import {
  closed,
  connectWithConnack,
  metricValue,
  mqtt,
  recorder,
  subackCodes,
  until,
  waitForLogs,
} from "../../helpers/mqtt-kit.js";

/*
 * Hardening, break 2 ("subscribe stall"). Pre-fix (2cd67a4 broker.ts installHooks), Aedes called
 * persistence.addSubscriptions once per granted filter with the SUBSCRIBE's whole list, and each call
 * ACL-checked and stored all of it again: one persistent-session SUBSCRIBE of 2,000 filters blocked the
 * event loop 17-37 s, during which nothing else, revocation kicks included, could run. There was no
 * cap on filters per SUBSCRIBE or per connection. Promises protected here:
 *  - a SUBSCRIBE is stored once (one call into the store underneath), with exactly its granted filters;
 *  - mqtt.maxFiltersPerSubscribe (default 64): a SUBSCRIBE with more closes the connection, counted as
 *    too_many_filters; mqtt.maxSubscriptionsPerClient (default 100): a filter beyond gets SUBACK 0x80,
 *    counted as subscription_limit_reached; an UNSUBSCRIBE frees its slots.
 * The timings are printed, never asserted (bench/ holds targets).
 */

/** The store under the guards, recording every list it is asked to store. */
function countingMemory(): { store: AedesPersistence; stores: { clientId: string; topics: string[] }[] } {
  const store = createMemoryPersistence();
  const stores: { clientId: string; topics: string[] }[] = [];
  const add = store.addSubscriptions.bind(store);
  store.addSubscriptions = (client, subs: Subscription[]) => {
    stores.push({ clientId: client.id, topics: subs.map((s) => s.topic) });
    return add(client, subs);
  };
  return { store, stores };
}

const filtersOf = (id: string, n: number, prefix = "f") =>
  Array.from({ length: n }, (_, i) => `devices/${id}/commands/${prefix}${i}`);

describe("2,000 granted filters in one persistent-session SUBSCRIBE (limits raised to allow it)", () => {
  let fg: TestFleetgate;
  let extra: ExtraGateway;
  let counting: ReturnType<typeof countingMemory>;
  let devs: EnrolledDevice[];
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    fg = await startTestFleetgate();
    counting = countingMemory();
    extra = await startExtraGateway(fg, {
      mqtt: { maxFiltersPerSubscribe: 2_010, maxSubscriptionsPerClient: 2_010, maxPacketSize: 256 * 1024 },
      persistence: counting.store,
    });
    devs = await Promise.all(
      ["dev-1", "dev-2", "dev-3", "svc-1"].map((id, i) => enrollDevice(fg, id, i < 3 ? "device" : "service")),
    );
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.endAsync(true)));
    await extra?.close();
    await fg?.close();
    for (const device of devs ?? []) device.cleanup();
  });

  const port = () => ({ port: extra.port });
  async function connect(device: EnrolledDevice, clean: boolean): Promise<MqttClient> {
    const client = await connectDevice(fg, device, { ...port(), clean });
    clients.push(client);
    return client;
  }

  it("answers 2,000 granted codes, stores them in one call, restores exactly them after a reconnect", async () => {
    const [dev1, , , svc] = devs as [EnrolledDevice, EnrolledDevice, EnrolledDevice, EnrolledDevice];
    const device = await connect(dev1, false);
    const granted = filtersOf("dev-1", 2_000);
    const denied = filtersOf("dev-2", 10, "x"); // another device's commands: SUBACK 0x80
    const filters = [...granted.slice(0, 1_000), ...denied, ...granted.slice(1_000)];
    const storesBefore = counting.stores.length;

    const delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    const started = performance.now();
    const codes = await subackCodes(device, filters, 1);
    const elapsed = performance.now() - started;
    delay.disable();
    console.log(
      `SUBSCRIBE of ${filters.length} filters (persistent session): SUBACK after ${elapsed.toFixed(0)} ms, ` +
        `event-loop delay max ${(delay.max / 1e6).toFixed(1)} ms, p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms`,
    );

    expect(codes).toEqual(filters.map((f) => (f.startsWith("devices/dev-1/") ? 1 : 128)));
    const stores = counting.stores.slice(storesBefore);
    expect(stores).toHaveLength(1);
    expect(stores[0]).toEqual({ clientId: "dev-1", topics: granted });
    expect(await valueOf(extra.metrics, "fleetgate_mqtt_denials_total", { reason: "subscribe_not_permitted" })).toBe(
      10,
    );

    await device.endAsync();
    const { client: again, connack } = await connectWithConnack(fg, dev1, { ...port(), clean: false });
    clients.push(again);
    expect(connack.sessionPresent).toBe(true);
    const persisted = await counting.store.subscriptionsByClient({ id: "dev-1" });
    expect(persisted.map((s) => s.topic).sort()).toEqual([...granted].sort());
    expect(persisted.every((s) => s.qos === 1)).toBe(true);

    // The restored subscriptions deliver (and count against the connection's limit as held filters).
    const service = await connect(svc, true);
    const seen = recorder(again);
    await service.publishAsync("devices/dev-1/commands/f1999", "restored", { qos: 1 });
    await until(again, seen, (m) => m.some((x) => x.payload === "restored"));
    expect(seen).toEqual([{ topic: "devices/dev-1/commands/f1999", payload: "restored" }]);
  });

  it("a revocation issued while another device's 2,000-filter SUBSCRIBE is handled kicks; the subscriber's own revocation leaves no stored subscription", async () => {
    const [, dev2, dev3] = devs as [EnrolledDevice, EnrolledDevice, EnrolledDevice];
    const victim = await connect(dev2, false);
    const victimGone = closed(victim);
    const subscriber = await connect(dev3, false);
    const kicksBefore = await valueOf(extra.metrics, "fleetgate_mqtt_kicks_total");

    const filters = filtersOf("dev-3", 2_000);
    const suback = subackCodes(subscriber, filters, 1);
    // Issued right after the SUBSCRIBE is written: the broker handles both in the same process.
    const revokedAt = performance.now();
    const revocation = revokeDevice(fg.running.revocation, "dev-2", "keyCompromise", "test");
    await victimGone;
    const kickedAfter = performance.now() - revokedAt;
    expect((await revocation).sessionsClosed).toBeGreaterThanOrEqual(1);
    const codes = await suback;
    const subackAfter = performance.now() - revokedAt;
    console.log(
      `revocation during a 2,000-filter SUBSCRIBE: kicked after ${kickedAfter.toFixed(0)} ms ` +
        `(SUBACK after ${subackAfter.toFixed(0)} ms)`,
    );
    expect(codes).toEqual(filters.map(() => 1));
    expect(await valueOf(extra.metrics, "fleetgate_mqtt_kicks_total")).toBe(kicksBefore + 1);
    expect(await counting.store.subscriptionsByClient({ id: "dev-2" })).toEqual([]);

    // The subscriber revoked while its own SUBSCRIBE is handled: whichever comes first, nothing stays stored.
    const gone = closed(subscriber);
    const again = subackCodes(subscriber, filtersOf("dev-3", 2_000, "g"), 1).catch(() => "closed");
    await revokeDevice(fg.running.revocation, "dev-3", "keyCompromise", "test");
    await gone;
    await again;
    await waitForLogs(fg, { msg: "device sessions kicked", deviceId: "dev-3" });
    expect(await counting.store.subscriptionsByClient({ id: "dev-3" })).toEqual([]);
  });
});

describe("default limits: 64 filters per SUBSCRIBE, 100 subscriptions per connection", () => {
  let fg: TestFleetgate;
  let devs: EnrolledDevice[];
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    fg = await startTestFleetgate();
    devs = await Promise.all(["dev-1", "dev-2", "dev-3"].map((id) => enrollDevice(fg, id)));
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.endAsync(true)));
    await fg?.close();
    for (const device of devs ?? []) device.cleanup();
  });
  const denials = (reason: string) => metricValue(fg, "fleetgate_mqtt_denials_total", { reason });
  async function connect(device: EnrolledDevice, clean = true): Promise<MqttClient> {
    const client = await connectDevice(fg, device, { clean });
    clients.push(client);
    return client;
  }

  it("the 101st filter gets 0x80; a held filter may be subscribed again; an UNSUBSCRIBE frees a slot", async () => {
    const device = await connect(devs[0]!);
    const filters = filtersOf("dev-1", 101);
    expect(await subackCodes(device, filters.slice(0, 64), 1)).toEqual(Array(64).fill(1));
    expect(await subackCodes(device, filters.slice(64, 100), 0)).toEqual(Array(36).fill(0));
    const limited = await denials("subscription_limit_reached");
    expect(await subackCodes(device, [filters[100]!, filters[5]!], 1)).toEqual([128, 1]);
    expect(await denials("subscription_limit_reached")).toBe(limited + 1);
    await waitForLogs(fg, { msg: "denied", reason: "subscription_limit_reached", topic: filters[100], limit: 100 });

    await device.unsubscribeAsync(filters[0]!);
    expect(await subackCodes(device, [filters[100]!, filters[0]!], 1)).toEqual([1, 128]);
    expect(await denials("subscription_limit_reached")).toBe(limited + 2);
    expect(device.connected).toBe(true);
  });

  it("a persistent session's restored subscriptions count against the limit", async () => {
    const first = await connect(devs[1]!, false);
    const filters = filtersOf("dev-2", 101);
    expect(await subackCodes(first, filters.slice(0, 50), 1)).toEqual(Array(50).fill(1));
    expect(await subackCodes(first, filters.slice(50, 100), 1)).toEqual(Array(50).fill(1));
    await first.endAsync();
    const { client, connack } = await connectWithConnack(fg, devs[1]!, { clean: false });
    clients.push(client);
    expect(connack.sessionPresent).toBe(true);
    expect(await subackCodes(client, [filters[100]!], 1)).toEqual([128]);
  });

  it("a 65-filter SUBSCRIBE closes the connection, unanswered, counted as too_many_filters; 64 pass", async () => {
    const before = await denials("too_many_filters");
    const device = await connect(devs[2]!);
    const packets: string[] = [];
    device.on("packetreceive", (packet) => packets.push(packet.cmd));
    const gone = closed(device);
    device.subscribe(filtersOf("dev-3", 65), { qos: 0 }, () => undefined);
    await gone;
    expect(packets).not.toContain("suback");
    expect(await denials("too_many_filters")).toBe(before + 1);
    await waitForLogs(fg, { msg: "denied", reason: "too_many_filters", deviceId: "dev-3" });

    const again = await new Promise<MqttClient>((resolve, reject) => {
      const client = mqtt.connect(mqttOptions(fg, devs[2]!));
      client.once("connect", () => resolve(client));
      client.once("error", reject);
    });
    clients.push(again);
    expect(await subackCodes(again, filtersOf("dev-3", 64), 0)).toEqual(Array(64).fill(0));
  });
});
