import type { MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDevice, enrollDevice, type EnrolledDevice } from "../../helpers/devices.js";
import { startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";
import { closed, eventually, recorder, subackCodes, until, waitForLogs } from "../../helpers/mqtt-kit.js";
import { httpGet } from "../../helpers/https.js";

/** Prometheus text exposition → { 'name{a="b"}': value } for the samples of metrics starting with `prefix`. */
function samples(body: string, prefix: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of body.split("\n")) {
    if (!line.startsWith(prefix)) continue;
    const match = /^(\S+) (\S+)$/.exec(line);
    if (!match) throw new Error(`unexpected exposition line: ${line}`);
    out[match[1]!] = Number(match[2]);
  }
  return out;
}

describe("GET /metrics and GET /healthz (plain HTTP on the metrics port)", () => {
  let fg: TestFleetgate;
  let devices: EnrolledDevice[];
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    fg = await startTestFleetgate();
    devices = await Promise.all([
      enrollDevice(fg, "dev-1"),
      enrollDevice(fg, "dev-2"),
      enrollDevice(fg, "svc-1", "service"),
    ]);
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.endAsync(true)));
    await fg?.close();
    for (const device of devices ?? []) device.cleanup();
  });

  it("lists every fleetgate_mqtt_* metric with the labels and counts of the traffic so far", async () => {
    const [dev1, dev2, svc] = devices as [EnrolledDevice, EnrolledDevice, EnrolledDevice];
    const service = await connectDevice(fg, svc);
    clients.push(service);
    const seen = recorder(service);
    await service.subscribeAsync("devices/+/telemetry/#", { qos: 1 });

    const device = await connectDevice(fg, dev1);
    clients.push(device);
    await device.publishAsync("devices/dev-1/telemetry", "one", { qos: 1 });
    await device.publishAsync("devices/dev-1/telemetry/b", "two", { qos: 1 });
    await until(service, seen, (messages) => messages.length === 2);
    expect(await subackCodes(device, ["#"], 0)).toEqual([128]);

    await expect(connectDevice(fg, { ...dev2, id: "dev-1" })).rejects.toMatchObject({ code: 2 });
    await expect(connectDevice(fg, dev2, { cert: undefined, key: undefined })).rejects.toThrow();
    await waitForLogs(fg, { msg: "TLS handshake failed", reason: "no_certificate" });

    const intruder = await connectDevice(fg, dev2);
    const gone = closed(intruder);
    intruder.publish("devices/dev-1/telemetry", "forged", { qos: 0 });
    await gone;
    await waitForLogs(fg, { msg: "denied", reason: "publish_not_permitted" });

    const deviceGone = closed(device);
    expect(await fg.running.gateway.sessions.kick("dev-1", "metrics test")).toBe(1);
    await deviceGone;
    // Gauges follow the server's own socket-close events.
    await eventually(() => fg.running.gateway.sessions.size === 1, "only the service session to remain");
    await eventually(
      async () => (await fg.running.metrics.mqttConnections.get()).values[0]?.value === 1,
      "one open connection",
    );

    const res = await httpGet(fg.running.ports.metrics, "/metrics");
    expect(res.status).toBe(200);
    expect(res.contentType).toBe("text/plain; version=0.0.4; charset=utf-8");
    for (const [name, type] of [
      ["fleetgate_mqtt_connections", "gauge"],
      ["fleetgate_mqtt_sessions", "gauge"],
      ["fleetgate_mqtt_handshake_failures_total", "counter"],
      ["fleetgate_mqtt_refusals_total", "counter"],
      ["fleetgate_mqtt_denials_total", "counter"],
      ["fleetgate_mqtt_messages_in_total", "counter"],
      ["fleetgate_mqtt_messages_out_total", "counter"],
      ["fleetgate_mqtt_kicks_total", "counter"],
    ] as const) {
      expect(res.body).toContain(`# TYPE ${name} ${type}\n`);
      expect(res.body).toMatch(new RegExp(`^# HELP ${name} \\S.*$`, "m"));
    }
    expect(samples(res.body, "fleetgate_mqtt_")).toEqual({
      fleetgate_mqtt_connections: 1,
      fleetgate_mqtt_pending_connections: 0,
      fleetgate_mqtt_sessions: 1,
      fleetgate_mqtt_stored_qos2_messages: 0,
      fleetgate_mqtt_store_errors_total: 0,
      fleetgate_mqtt_stored_qos2_bytes: 0,
      'fleetgate_mqtt_handshake_failures_total{reason="no_certificate"}': 1,
      'fleetgate_mqtt_refusals_total{reason="client_id_mismatch"}': 1,
      'fleetgate_mqtt_denials_total{reason="subscribe_not_permitted"}': 1,
      'fleetgate_mqtt_denials_total{reason="publish_not_permitted"}': 1,
      fleetgate_mqtt_messages_in_total: 2,
      fleetgate_mqtt_messages_out_total: 2,
      fleetgate_mqtt_kicks_total: 1,
    });
  });

  it("GET /healthz answers 200 with status ok, the registry and the live session count", async () => {
    const res = await httpGet(fg.running.ports.metrics, "/healthz");
    expect(res.status).toBe(200);
    expect(res.contentType).toMatch(/^application\/json/);
    expect(JSON.parse(res.body)).toEqual({ status: "ok", registry: "ok", sessions: 1 });
  });

  it("the metrics listener serves nothing else", async () => {
    expect((await httpGet(fg.running.ports.metrics, "/v1/enroll")).status).toBe(404);
  });
});
