import mqtt, { type IClientOptions, type MqttClient } from "mqtt";

/** A device's credentials as the process-level e2e tests hold them (PEM strings). */
export interface DeviceCredentials {
  readonly id: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/**
 * One MQTT 3.1.1 connection over mTLS to a `fleetgate serve` process's MQTT port, client id = the CN,
 * never reconnecting; resolves at CONNACK, rejects on an error or a close before it. Each client is
 * pushed to `opened` so the test's afterAll can end them all.
 */
export function connectMqtts(
  port: number | undefined,
  device: DeviceCredentials,
  ca: string,
  opened: MqttClient[],
  extra: IClientOptions = {},
): Promise<MqttClient> {
  return new Promise<MqttClient>((resolve, reject) => {
    const client = mqtt.connect({
      host: "localhost",
      port,
      protocol: "mqtts",
      protocolVersion: 4,
      clientId: device.id,
      ca,
      cert: device.certPem,
      key: device.keyPem,
      reconnectPeriod: 0,
      ...extra,
    });
    opened.push(client);
    client.once("connect", () => resolve(client));
    client.once("error", reject);
    client.once("close", () => reject(new Error("closed before CONNACK")));
  });
}
