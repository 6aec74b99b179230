import type { MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDevice, enrollDevice, type EnrolledDevice } from "../../helpers/devices.js";
import { startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";
import * as mq from "../../helpers/mqtt-bytes.js";
import { killAllCli, mosquittoArgs, runCli } from "../../helpers/mqtt-cli.js";
import { metricValue, recorder, until, waitForLogs } from "../../helpers/mqtt-kit.js";

/*
 * Hardening, break 7(a), [MQTT-1.5.3-1]: "If a Server or Client receives a Control Packet containing
 * ill-formed UTF-8 it MUST close the Network Connection." Pre-fix (2cd67a4), mqtt-packet decoded the
 * bytes leniently to U+FFFD and the broker went on: a PUBLISH to `devices/dev-1/telemetry/` + FF FE was
 * delivered as `.../\uFFFD\uFFFD`. Promise protected: a PUBLISH topic, SUBSCRIBE or UNSUBSCRIBE filter,
 * CONNECT client id, will topic or user name that is not well-formed UTF-8 (FF FE, overlong C0 AF,
 * surrogate ED A0 80) closes the connection, counted as malformed_utf8, and reaches nobody; valid
 * non-ASCII text and a real U+FFFD (EF BF BD) are ordinary topics.
 */

let fg: TestFleetgate;
let devs: Map<string, EnrolledDevice>;
let service: MqttClient;
let seen: { topic: string; payload: string }[];
const clients: MqttClient[] = [];
const wires: mq.Wire[] = [];

beforeAll(async () => {
  fg = await startTestFleetgate();
  const enrolled = await Promise.all([
    enrollDevice(fg, "dev-1"),
    enrollDevice(fg, "dev-2"),
    enrollDevice(fg, "svc-1", "service"),
  ]);
  devs = new Map(enrolled.map((d) => [d.id, d]));
  service = await connectDevice(fg, devs.get("svc-1")!);
  clients.push(service);
  seen = recorder(service);
  await service.subscribeAsync(["devices/+/telemetry/#", "devices/+/state", "devices/+/events/#"], { qos: 1 });
});
afterAll(async () => {
  await killAllCli();
  for (const wire of wires) wire.close();
  await Promise.all(clients.map((client) => client.endAsync(true)));
  await fg?.close();
  for (const device of devs?.values() ?? []) device.cleanup();
});

const malformed = () => metricValue(fg, "fleetgate_mqtt_denials_total", { reason: "malformed_utf8" });
const ILL_FORMED = {
  "FF FE": Buffer.from([0xff, 0xfe]),
  "overlong C0 AF": Buffer.from([0xc0, 0xaf]),
  "surrogate ED A0 80": Buffer.from([0xed, 0xa0, 0x80]),
};
const withTail = (prefix: string, tail: Buffer) => Buffer.concat([Buffer.from(prefix, "utf8"), tail]);

async function raw(id: string): Promise<mq.TlsWire> {
  const wire = await mq.openTls(fg, fg.running.ports.mqtt, devs.get(id)!);
  wires.push(wire);
  return wire;
}

async function connected(id: string): Promise<mq.TlsWire> {
  const wire = await raw(id);
  wire.send(mq.connect({ clientId: id }));
  await wire.waitFor((r) => mq.connackCode(r) === 0, "CONNACK 0");
  return wire;
}

/** dev-2 publishes a sentinel; once the service has it, everything sent before has been dispatched. */
async function sentinel(label: string): Promise<void> {
  const other = await connectDevice(fg, devs.get("dev-2")!);
  await other.publishAsync("devices/dev-2/telemetry", label, { qos: 1 });
  await until(service, seen, (m) => m.some((x) => x.payload === label));
  await other.endAsync();
}

describe.each(Object.entries(ILL_FORMED))("ill-formed UTF-8 (%s)", (name, tail) => {
  it("in a PUBLISH topic: the connection is closed, nothing is delivered", async () => {
    const before = await malformed();
    const wire = await connected("dev-1");
    const topic = withTail("devices/dev-1/telemetry/", tail);
    wire.send(Buffer.concat([mq.publish(topic, "smuggled", { qos: 1, messageId: 1 }), mq.publish(topic, "again")]));
    await wire.closed;
    expect(mq.ofType(wire.received(), mq.TYPE.puback)).toEqual([]);
    await sentinel(`after publish ${name}`);
    expect(seen.filter((m) => m.payload === "smuggled" || m.payload === "again")).toEqual([]);
    expect(await malformed()).toBe(before + 1);
    await waitForLogs(fg, { msg: "denied", reason: "malformed_utf8", deviceId: "dev-1" });
  });

  it("in a SUBSCRIBE or UNSUBSCRIBE filter: closed without SUBACK / UNSUBACK", async () => {
    const before = await malformed();
    const subscriber = await connected("dev-1");
    subscriber.send(mq.subscribe(7, ["devices/dev-1/config", withTail("devices/dev-1/commands/", tail)], 1));
    await subscriber.closed;
    expect(mq.ofType(subscriber.received(), mq.TYPE.suback)).toEqual([]);
    const unsubscriber = await connected("dev-1");
    unsubscriber.send(mq.unsubscribe(8, [withTail("devices/dev-1/commands/", tail)]));
    await unsubscriber.closed;
    expect(mq.ofType(unsubscriber.received(), mq.TYPE.unsuback)).toEqual([]);
    expect(await malformed()).toBe(before + 2);
  });

  it("in a CONNECT client id, will topic or user name: closed before any CONNACK", async () => {
    const before = await malformed();
    const connects = [
      mq.connect({ clientId: withTail("dev-1", tail) }),
      mq.connect({ clientId: "dev-1", will: { topic: withTail("devices/dev-1/state", tail), message: "gone" } }),
      mq.connect({ clientId: "dev-1", username: withTail("user", tail) }),
    ];
    for (const packet of connects) {
      const wire = await raw("dev-1");
      wire.send(packet);
      await wire.closed;
      expect(mq.connackCode(wire.received())).toBeNull();
    }
    expect(await malformed()).toBe(before + 3);
    // The will was never registered: nothing is published for it.
    await sentinel(`after connect ${name}`);
    expect(seen.filter((m) => m.payload === "gone")).toEqual([]);
  });
});

describe("well-formed non-ASCII topics", () => {
  it("are ordinary topics: `température` from mosquitto_pub, a real U+FFFD from MQTT.js and raw bytes", async () => {
    const before = await malformed();
    const cli = await runCli("mosquitto_pub", [
      ...mosquittoArgs(fg, devs.get("dev-1")!),
      "-i",
      "dev-1",
      "-q",
      "1",
      "-t",
      "devices/dev-1/telemetry/température",
      "-m",
      "21.5",
    ]);
    expect(cli).toMatchObject({ code: 0, stderr: "" });
    const device = await connectDevice(fg, devs.get("dev-1")!);
    clients.push(device);
    await device.publishAsync("devices/dev-1/telemetry/\uFFFD", "replacement character", { qos: 1 });
    const wire = await connected("dev-2");
    wire.send(mq.publish(Buffer.from("devices/dev-2/telemetry/\u00e9\u4e2d\u{1f600}", "utf8"), "raw", { qos: 1 }));
    await wire.waitFor((r) => mq.ofType(r, mq.TYPE.puback).length === 1, "PUBACK");
    await until(service, seen, (m) => m.some((x) => x.payload === "raw"));
    expect(seen.filter((m) => ["21.5", "replacement character", "raw"].includes(m.payload))).toEqual([
      { topic: "devices/dev-1/telemetry/température", payload: "21.5" },
      { topic: "devices/dev-1/telemetry/\uFFFD", payload: "replacement character" },
      { topic: "devices/dev-2/telemetry/é中😀", payload: "raw" },
    ]);
    expect(await malformed()).toBe(before);
  });
});
