import type { MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMemoryPersistence } from "../../../src/adapters/mqtt/memory-persistence.js";
import { revokeDevice } from "../../../src/app/revoke-device.js";
import type { ConfigInput } from "../../../src/config.js";
import { connectDevice, enrollDevice, type EnrolledDevice } from "../../helpers/devices.js";
import { startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";
import * as mq from "../../helpers/mqtt-bytes.js";
import { startExtraGateway, valueOf, type ExtraGateway } from "../../helpers/mqtt-gateway.js";
import { closed, eventually, metricValue, recorder, until, waitForLogs } from "../../helpers/mqtt-kit.js";

/*
 * Hardening, break 3 ("unbounded QoS 2 state"). Pre-fix (2cd67a4), a device in a persistent session
 * could send QoS 2 PUBLISHes and never the PUBREL, reconnect and do it again: the stored packets grew
 * without bound (Aedes's own cap, maxInflightInbound, is per connection); and rate-dropped publishes
 * were stored like any other. Promises protected here:
 *  - stored QoS 2 state is bounded per client id across reconnects, in messages and in bytes
 *    (mqtt.maxStoredQos2); the PUBLISH beyond closes the connection, counted as qos2_store_full;
 *  - fleetgate_mqtt_stored_qos2_messages / _bytes account for what is stored: PUBREL, a clean
 *    session's end and a revocation take it off;
 *  - a dropped publish (rate limit, or mqtt.onDeniedPublish "drop") is never stored, and its QoS 2
 *    handshake completes like any other: a rate-limited device is not disconnected for it.
 */

const TOPIC = "devices/dev-1/telemetry"; // 23 bytes

function fixture(mqtt: NonNullable<ConfigInput["mqtt"]>, ids: string[]) {
  const state = {} as { fg: TestFleetgate; devs: Map<string, EnrolledDevice> };
  const clients: MqttClient[] = [];
  const wires: mq.Wire[] = [];
  beforeAll(async () => {
    state.fg = await startTestFleetgate({ mqtt: { host: "127.0.0.1", port: 0, ...mqtt } });
    const profile = (id: string) => (id.startsWith("svc") ? "service" : "device");
    state.devs = new Map(
      (await Promise.all(ids.map((id) => enrollDevice(state.fg, id, profile(id))))).map((d) => [d.id, d]),
    );
  });
  afterAll(async () => {
    for (const wire of wires) wire.close();
    await Promise.all(clients.map((client) => client.endAsync(true)));
    await state.fg?.close();
    for (const device of state.devs?.values() ?? []) device.cleanup();
  });
  /** A raw mTLS session of `id`, CONNECTed (CONNACK 0 awaited). */
  async function session(id: string, clean: boolean): Promise<mq.Wire> {
    const wire = await mq.openTls(state.fg, state.fg.running.ports.mqtt, state.devs.get(id)!);
    wires.push(wire);
    wire.send(mq.connect({ clientId: id, clean }));
    await wire.waitFor((r) => mq.connackCode(r) !== null, "CONNACK");
    expect(mq.connackCode(wire.received())).toBe(0);
    return wire;
  }
  async function client(id: string, extra = {}): Promise<MqttClient> {
    const c = await connectDevice(state.fg, state.devs.get(id)!, extra);
    clients.push(c);
    return c;
  }
  const stored = async () => ({
    messages: await metricValue(state.fg, "fleetgate_mqtt_stored_qos2_messages"),
    bytes: await metricValue(state.fg, "fleetgate_mqtt_stored_qos2_bytes"),
  });
  const denials = (reason: string) => metricValue(state.fg, "fleetgate_mqtt_denials_total", { reason });
  return { state, session, client, stored, denials };
}

const idsOf = (stream: Buffer, type: number) => mq.ofType(stream, type).map((p) => p.body.readUInt16BE(0));
const qos2 = (topic: string, payload: string, messageId: number, dup = false) =>
  mq.publish(topic, payload, { qos: 2, messageId, dup });

describe("mqtt.maxStoredQos2 = 5 messages, 2,000 bytes per client id", () => {
  const { state, session, stored, denials } = fixture({ maxStoredQos2: { messages: 5, bytes: 2000 } }, [
    "dev-1",
    "dev-2",
    "dev-3",
    "dev-4",
  ]);
  const topic = (id: string) => `devices/${id}/telemetry`;

  it("holds 5 unreleased messages across reconnects; the 6th closes the connection, even inside one TCP write", async () => {
    const full = await denials("qos2_store_full");
    const first = await session("dev-1", false);
    // Six in one write: Aedes handles them concurrently, the bound must hold all the same.
    first.send(Buffer.concat([1, 2, 3, 4, 5, 6].map((id) => qos2(TOPIC, "0123456789", id))));
    await first.closed;
    // The close may overtake the PUBRECs of the five stored ones; the client retransmits them below.
    expect(idsOf(first.received(), mq.TYPE.pubrec)).not.toContain(6);
    expect(await denials("qos2_store_full")).toBe(full + 1);
    expect(await stored()).toEqual({ messages: 5, bytes: 5 * (10 + 23) });
    await waitForLogs(state.fg, { msg: "denied", reason: "qos2_store_full", deviceId: "dev-1" });

    // The bound is per client id: a new connection of the same persistent session gets no more room.
    const second = await session("dev-1", false);
    second.send(qos2(TOPIC, "x", 9));
    await second.closed;
    expect(idsOf(second.received(), mq.TYPE.pubrec)).toEqual([]);
    expect(await denials("qos2_store_full")).toBe(full + 2);

    // What is stored is released as usual: retransmissions are acknowledged, PUBRELs free the room.
    const third = await session("dev-1", false);
    third.send(Buffer.concat([1, 2, 3, 4, 5].map((id) => qos2(TOPIC, "0123456789", id, true))));
    await third.waitFor((r) => idsOf(r, mq.TYPE.pubrec).length === 5, "PUBRECs of the retransmissions");
    expect(await stored()).toEqual({ messages: 5, bytes: 5 * (10 + 23) });
    third.send(Buffer.concat([1, 2, 3, 4, 5].map((id) => mq.pubrel(id))));
    await third.waitFor((r) => idsOf(r, mq.TYPE.pubcomp).length === 5, "5 PUBCOMPs");
    expect(await stored()).toEqual({ messages: 0, bytes: 0 });
    third.send(qos2(TOPIC, "again", 10));
    await third.waitFor((r) => idsOf(r, mq.TYPE.pubrec).includes(10), "PUBREC 10");
    expect(await stored()).toEqual({ messages: 1, bytes: 5 + 23 });
    third.send(mq.pubrel(10));
    await third.waitFor((r) => idsOf(r, mq.TYPE.pubcomp).includes(10), "PUBCOMP 10");
    expect(await stored()).toEqual({ messages: 0, bytes: 0 });
    expect(third.isClosed()).toBe(false);
  });

  it("counts bytes (topic + payload): the PUBLISH that would pass 2,000 bytes closes the connection", async () => {
    const full = await denials("qos2_store_full");
    const wire = await session("dev-2", false);
    const payload = "p".repeat(600); // 623 bytes each with the topic: three fit, a fourth does not
    wire.send(Buffer.concat([1, 2, 3, 4].map((id) => qos2(topic("dev-2"), payload, id))));
    await wire.closed;
    expect(idsOf(wire.received(), mq.TYPE.pubrec)).not.toContain(4);
    expect(await denials("qos2_store_full")).toBe(full + 1);
    expect(await stored()).toEqual({ messages: 3, bytes: 3 * 623 });
    // Released after a reconnect.
    const again = await session("dev-2", false);
    again.send(Buffer.concat([1, 2, 3].map((id) => mq.pubrel(id))));
    await again.waitFor((r) => idsOf(r, mq.TYPE.pubcomp).length === 3, "3 PUBCOMPs");
    expect(await stored()).toEqual({ messages: 0, bytes: 0 });
  });

  it("a revocation discards the stored state; a clean session's end does too", async () => {
    const wire = await session("dev-3", false);
    wire.send(Buffer.concat([1, 2, 3].map((id) => qos2(topic("dev-3"), "abc", id))));
    await wire.waitFor((r) => idsOf(r, mq.TYPE.pubrec).length === 3, "3 PUBRECs");
    expect(await stored()).toEqual({ messages: 3, bytes: 3 * 26 });
    await revokeDevice(state.fg.running.revocation, "dev-3", "keyCompromise", "test");
    await wire.closed;
    await eventually(async () => (await stored()).messages === 0, "the stored state discarded");
    expect(await stored()).toEqual({ messages: 0, bytes: 0 });
    const persistence = (state.fg.running.gateway.broker as unknown as { persistence: unknown }).persistence as {
      incomingGetPacket(c: { id: string }, p: { messageId: number }): Promise<unknown>;
    };
    for (const messageId of [1, 2, 3])
      await expect(persistence.incomingGetPacket({ id: "dev-3" }, { messageId })).rejects.toThrow();

    const clean = await session("dev-4", true);
    clean.send(Buffer.concat([1, 2].map((id) => qos2(topic("dev-4"), "abc", id))));
    await clean.waitFor((r) => idsOf(r, mq.TYPE.pubrec).length === 2, "2 PUBRECs");
    expect(await stored()).toEqual({ messages: 2, bytes: 2 * 26 });
    clean.send(mq.DISCONNECT);
    await clean.closed;
    await eventually(async () => (await stored()).messages === 0, "a clean session's state gone");
    expect(await stored()).toEqual({ messages: 0, bytes: 0 });
  });
});

describe("rate-dropped QoS 2 publishes (publishRate burst 1, practically no refill)", () => {
  const { client, stored, denials } = fixture({ publishRate: { perSecond: 0.001, burst: 1 } }, [
    "dev-1",
    "dev-2",
    "svc-1",
  ]);

  it("are acknowledged, never stored, delivered to nobody, and do not use up the connection's QoS 2 window", async () => {
    const service = await client("svc-1");
    const seen = recorder(service);
    await service.subscribeAsync("devices/+/telemetry/#", { qos: 2 });
    const device = await client("dev-1", { clean: false });
    let disconnected = false;
    device.on("close", () => (disconnected = true));
    await device.publishAsync(TOPIC, "the one token", { qos: 2 });
    // Aedes keeps at most 1,000 QoS 2 handshakes open per connection (maxInflightInbound); 1,100 dropped
    // ones each completed by MQTT.js (PUBREC, PUBREL, PUBCOMP) must not add up to it.
    const dropped = 1_100;
    const gone = closed(device).then(() => "closed");
    for (let n = 0; n < dropped; n++) {
      const outcome = await Promise.race([device.publishAsync(TOPIC, `dropped ${n}`, { qos: 2 }), gone]);
      expect(outcome, `after ${n} dropped QoS 2 messages`).not.toBe("closed");
    }
    expect(await stored()).toEqual({ messages: 0, bytes: 0 });
    expect(disconnected).toBe(false);
    expect(await denials("publish_rate_exceeded")).toBe(dropped);
    const other = await client("dev-2");
    await other.publishAsync("devices/dev-2/telemetry", "sentinel", { qos: 2 });
    await until(service, seen, (m) => m.some((x) => x.payload === "sentinel"));
    expect(seen.map((m) => m.payload)).toEqual(["the one token", "sentinel"]);
  });
});

describe("dropped publishes reach no store (a gateway over a recording store; drop mode; burst 1)", () => {
  let fg: TestFleetgate;
  let extra: ExtraGateway;
  let dev: EnrolledDevice;
  const wires: mq.Wire[] = [];
  const calls: string[] = [];

  beforeAll(async () => {
    fg = await startTestFleetgate();
    const store = createMemoryPersistence();
    for (const method of ["incomingStorePacket", "storeRetained", "outgoingEnqueueCombi", "outgoingEnqueue"] as const) {
      const original = (store[method] as (...args: unknown[]) => Promise<void>).bind(store);
      (store[method] as (...args: unknown[]) => Promise<void>) = (...args: unknown[]) => {
        const packet = args[1] ?? args[0];
        calls.push(`${method} ${(packet as { topic: string }).topic}`);
        return original(...args);
      };
    }
    extra = await startExtraGateway(fg, {
      mqtt: { publishRate: { perSecond: 0.001, burst: 1 }, onDeniedPublish: "drop" },
      persistence: store,
    });
    dev = await enrollDevice(fg, "dev-1");
  });
  afterAll(async () => {
    for (const wire of wires) wire.close();
    await extra?.close();
    await fg?.close();
    dev?.cleanup();
  });

  it("stores the one allowed QoS 2 PUBLISH, not the rate-dropped or forbidden ones; their handshakes complete", async () => {
    const wire = await mq.openTls(fg, extra.port, dev);
    wires.push(wire);
    wire.send(mq.connect({ clientId: "dev-1", clean: false }));
    await wire.waitFor((r) => mq.connackCode(r) === 0, "CONNACK 0");
    wire.send(qos2(TOPIC, "allowed", 1));
    await wire.waitFor((r) => idsOf(r, mq.TYPE.pubrec).includes(1), "PUBREC 1");
    const forbidden = mq.publish("devices/dev-2/telemetry", "forbidden", { qos: 2, messageId: 3 });
    const retained = mq.publish(TOPIC, "rate-dropped, retained", { qos: 2, messageId: 4, retain: true });
    wire.send(Buffer.concat([qos2(TOPIC, "rate-dropped", 2), forbidden, retained]));
    await wire.waitFor((r) => idsOf(r, mq.TYPE.pubrec).length === 4, "4 PUBRECs");
    wire.send(qos2(TOPIC, "rate-dropped", 2, true)); // a retransmission before the PUBREL
    await wire.waitFor((r) => idsOf(r, mq.TYPE.pubrec).length === 5, "the retransmission's PUBREC");
    expect(calls.filter((c) => c.startsWith("incomingStorePacket"))).toEqual([`incomingStorePacket ${TOPIC}`]);
    expect(calls.filter((c) => !c.startsWith("incomingStorePacket"))).toEqual([]);
    expect(await valueOf(extra.metrics, "fleetgate_mqtt_stored_qos2_messages")).toBe(1);
    expect(await valueOf(extra.metrics, "fleetgate_mqtt_denials_total", { reason: "publish_rate_exceeded" })).toBe(3);
    expect(await valueOf(extra.metrics, "fleetgate_mqtt_denials_total", { reason: "publish_not_permitted" })).toBe(1);

    wire.send(Buffer.concat([1, 2, 3, 4].map((id) => mq.pubrel(id))));
    await wire.waitFor((r) => idsOf(r, mq.TYPE.pubcomp).length === 4, "4 PUBCOMPs");
    expect(await valueOf(extra.metrics, "fleetgate_mqtt_stored_qos2_messages")).toBe(0);
    expect(wire.isClosed()).toBe(false);
  });
});
