import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import type { TestFleetgate } from "./fleetgate.js";
import { opensslCsr } from "./fleetgate.js";
import { postJson } from "./https.js";

export interface EnrolledDevice {
  readonly id: string;
  readonly certPem: string;
  readonly keyPem: string;
  /** Files for CLI clients (mosquitto_pub --cert/--key/--cafile). */
  readonly files: { readonly cert: string; readonly key: string; readonly ca: string; readonly dir: string };
  cleanup(): void;
}

/** Enrolls through the real /v1/enroll API with a fresh token and an openssl-made key. */
export async function enrollDevice(fg: TestFleetgate, id: string, profile = "device"): Promise<EnrolledDevice> {
  const token = await fg.token({ deviceId: id, profile });
  const { csrPem, keyPem } = opensslCsr(`/CN=${id}`);
  const res = await postJson(fg.enrollUrl, "/v1/enroll", { token, csr: csrPem }, fg.rootCaPem);
  if (res.status !== 201) throw new Error(`enrollment of ${id} failed: ${res.status} ${res.body}`);
  const certPem = res.json<{ certificate: string }>().certificate;
  const dir = mkdtempSync(join(tmpdir(), `fleetgate-${id}-`));
  const files = { cert: join(dir, "cert.pem"), key: join(dir, "key.pem"), ca: join(dir, "ca.pem"), dir };
  writeFileSync(files.cert, certPem);
  writeFileSync(files.key, keyPem, { mode: 0o600 });
  writeFileSync(files.ca, fg.rootCaPem);
  return { id, certPem, keyPem, files, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function mqttOptions(
  fg: TestFleetgate,
  device: { certPem: string; keyPem: string; id?: string },
  extra: IClientOptions = {},
): IClientOptions {
  return {
    host: "localhost",
    port: fg.running.ports.mqtt,
    protocol: "mqtts",
    protocolVersion: 4,
    clientId: device.id,
    ca: fg.rootCaPem,
    cert: device.certPem,
    key: device.keyPem,
    reconnectPeriod: 0,
    connectTimeout: 5_000,
    ...extra,
  };
}

/** Connects once (no reconnects); resolves on CONNACK 0, rejects with the error otherwise. */
export function connectDevice(
  fg: TestFleetgate,
  device: { certPem: string; keyPem: string; id?: string },
  extra: IClientOptions = {},
): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(mqttOptions(fg, device, extra));
    client.once("connect", () => resolve(client));
    client.once("error", (error) => {
      client.end(true);
      reject(error);
    });
    client.once("close", () => reject(new Error("closed before CONNACK")));
  });
}

export function nextMessage(client: MqttClient, timeoutMs = 5_000): Promise<{ topic: string; payload: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no message")), timeoutMs);
    client.once("message", (topic, payload) => {
      clearTimeout(timer);
      resolve({ topic, payload: payload.toString() });
    });
  });
}

/** connectDevice that remembers every client it made, so a fixture can end them all in afterAll. */
export function trackedConnections(fg: () => TestFleetgate): {
  readonly clients: MqttClient[];
  readonly connect: (
    device: { certPem: string; keyPem: string; id?: string },
    extra?: IClientOptions,
  ) => Promise<MqttClient>;
} {
  const clients: MqttClient[] = [];
  return {
    clients,
    connect: async (device, extra = {}) => {
      const client = await connectDevice(fg(), device, extra);
      clients.push(client);
      return client;
    },
  };
}
