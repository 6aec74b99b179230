import { readFileSync } from "node:fs";
import { MqttGateway } from "../../src/adapters/mqtt/broker.js";
import { createMemoryPersistence } from "../../src/adapters/mqtt/memory-persistence.js";
import type { AedesPersistence } from "../../src/adapters/shared/aedes-persistence.js";
import { readPrivateKeyPem } from "../../src/adapters/shared/key-files.js";
import type { SessionTickets } from "../../src/adapters/shared/ticket-keys.js";
import type { ConfigInput } from "../../src/config.js";
import { gatewayOptions } from "../../src/wiring/gateway.js";
import { Metrics } from "../../src/metrics.js";
import { testConfig, type TestFleetgate } from "./fleetgate.js";

/**
 * A second MQTT gateway of a running test fleetgate (same PKI, registry, revocation bus and logger),
 * with its own mqtt settings and its own metrics, over a store the test chooses: what a test needs to
 * watch the calls fleetgate's guards make into the persistence underneath them.
 */
export interface ExtraGateway {
  readonly gateway: MqttGateway;
  readonly metrics: Metrics;
  readonly port: number;
  close(): Promise<void>;
}

export async function startExtraGateway(
  fg: TestFleetgate,
  options: {
    mqtt?: NonNullable<ConfigInput["mqtt"]>;
    persistence?: AedesPersistence;
    sessionTickets?: SessionTickets;
  } = {},
): Promise<ExtraGateway> {
  const config = testConfig(fg.dataDir, { mqtt: { host: "127.0.0.1", port: 0, ...options.mqtt } });
  const tls = {
    key: readPrivateKeyPem(fg.pki.serverKey),
    cert: readFileSync(fg.pki.serverCert),
    ca: [fg.running.deps.signer.issuingCaPem, fg.rootCaPem],
  };
  const metrics = new Metrics();
  const { bus } = fg.running.revocation;
  const node = {
    nodeId: "extra-node",
    maxConnections: config.mqtt.maxConnections,
    ...(options.sessionTickets ? { sessionTickets: options.sessionTickets } : {}),
  };
  const base = gatewayOptions(config, node, tls, fg.running.deps, bus, null, { logger: fg.logger, metrics });
  const gateway = await MqttGateway.start({ ...base, persistence: options.persistence ?? createMemoryPersistence() });
  let open = true;
  bus.onRevocation((event) => (open ? gateway.sessions.kick(event.deviceId, `revoked: ${event.reason}`) : 0));
  return {
    gateway,
    metrics,
    port: gateway.port,
    async close() {
      open = false;
      await gateway.close();
    },
  };
}

/** Current value of a metric of `metrics`, summed over series whose labels include `labels`. */
export async function valueOf(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, e]) => String((v.labels as Record<string, unknown>)[k]) === e))
    .reduce((sum, v) => sum + v.value, 0);
}
