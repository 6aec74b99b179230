import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Metrics } from "../src/metrics.js";

describe("Metrics", () => {
  it("registers every metric once, with its type, labels and help", async () => {
    const metrics = new Metrics();
    metrics.watchExpiry(async (before) => (before > Date.now() + 8 * 86_400_000 ? 3 : 1));
    metrics.watchCertificates(() => ({
      cas: [
        { id: "ca-2", notAfter: 2_000_000_000_500 },
        { id: "root", notAfter: 2_100_000_000_000 },
      ],
      serverNotAfter: 1_900_000_000_999,
    }));
    metrics.enrollments.inc({ method: "est", outcome: "ok" });
    metrics.httpRefusals.inc({ service: "admin", code: "not_found" });
    metrics.mqttDenials.inc({ reason: "publish_not_permitted" });
    metrics.mqttKicks.inc();
    metrics.mqttSessions.set(2);
    const json = await metrics.registry.getMetricsAsJSON();
    const byName = new Map(json.map((m) => [m.name, m]));
    expect([...byName.keys()].sort()).toEqual([
      "fleetgate_ca_certificate_expiry_seconds",
      "fleetgate_certificates_expiring",
      "fleetgate_enrollment_duration_seconds",
      "fleetgate_enrollments_total",
      "fleetgate_http_connections_closed_total",
      "fleetgate_http_refusals_total",
      "fleetgate_mqtt_connections",
      "fleetgate_mqtt_denials_total",
      "fleetgate_mqtt_handshake_failures_total",
      "fleetgate_mqtt_kicks_total",
      "fleetgate_mqtt_messages_in_total",
      "fleetgate_mqtt_messages_out_total",
      "fleetgate_mqtt_pending_connections",
      "fleetgate_mqtt_refusals_total",
      "fleetgate_mqtt_sessions",
      "fleetgate_mqtt_store_errors_total",
      "fleetgate_mqtt_stored_qos2_bytes",
      "fleetgate_mqtt_stored_qos2_messages",
      "fleetgate_server_certificate_expiry_seconds",
    ]);
    for (const metric of json) expect(metric.help.length, metric.name).toBeGreaterThan(10);
    const types = Object.fromEntries(json.map((m) => [m.name, String(m.type)]));
    expect(types).toMatchObject({
      fleetgate_enrollments_total: "counter",
      fleetgate_enrollment_duration_seconds: "histogram",
      fleetgate_mqtt_connections: "gauge",
      fleetgate_mqtt_sessions: "gauge",
      fleetgate_mqtt_kicks_total: "counter",
      fleetgate_http_connections_closed_total: "counter",
      fleetgate_certificates_expiring: "gauge",
    });
    expect(byName.get("fleetgate_enrollments_total")!.values).toEqual([
      { labels: { method: "est", outcome: "ok" }, value: 1 },
    ]);
    expect(byName.get("fleetgate_http_refusals_total")!.values).toEqual([
      { labels: { service: "admin", code: "not_found" }, value: 1 },
    ]);
    expect(byName.get("fleetgate_mqtt_sessions")!.values).toEqual([{ labels: {}, value: 2 }]);
    expect(byName.get("fleetgate_certificates_expiring")!.values).toEqual([
      { labels: { within: "7d" }, value: 1 },
      { labels: { within: "30d" }, value: 3 },
    ]);
    expect(byName.get("fleetgate_ca_certificate_expiry_seconds")!.values).toEqual([
      { labels: { ca: "ca-2" }, value: 2_000_000_000 },
      { labels: { ca: "root" }, value: 2_100_000_000 },
    ]);
    expect(byName.get("fleetgate_server_certificate_expiry_seconds")!.values).toEqual([
      { labels: {}, value: 1_900_000_000 },
    ]);
    const text = await metrics.registry.metrics();
    expect(text).toContain('fleetgate_mqtt_denials_total{reason="publish_not_permitted"} 1');
    expect(text).toContain("fleetgate_mqtt_kicks_total 1");
  });

  it("refuses a label a metric does not have", () => {
    const metrics = new Metrics();
    expect(() => metrics.mqttDenials.inc({ nope: "x" } as never)).toThrow();
  });
});

describe("README metrics section", () => {
  it("names every registered metric", async () => {
    const readme = readFileSync(fileURLToPath(new URL("../README.md", import.meta.url)), "utf8");
    const section = readme.slice(
      readme.indexOf("## Metrics"),
      readme.indexOf("\n## ", readme.indexOf("## Metrics") + 1),
    );
    const metrics = new Metrics();
    metrics.watchExpiry(async () => 0);
    metrics.watchCertificates(() => ({ cas: [], serverNotAfter: 0 }));
    const names = (await metrics.registry.getMetricsAsJSON()).map((m) => m.name);
    expect(names.length).toBeGreaterThan(15);
    expect(names.filter((name) => !section.includes(`\`${name}`))).toEqual([]);
  });
});
