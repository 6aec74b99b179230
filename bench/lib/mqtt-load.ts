/**
 * The MQTT load generator both brokers are driven with: MQTT.js 5 speaking 3.1.1 over mutual TLS,
 * client id = certificate CN, no reconnects. No TLS session resumption unless a `session` is passed
 * (Node keeps no client session cache of its own, so every other connect is a full handshake;
 * checked); every connection records the last session (ticket) the broker gave it, to resume with.
 */
import mqtt, { type MqttClient } from "mqtt";
import type { TLSSocket } from "node:tls";
import type { DeviceCredential } from "./device-credentials.js";
import { runPool } from "./pool.js";

export interface MqttTarget {
  readonly host: string;
  readonly port: number;
  readonly caPem: string;
  /** Long, so keep-alive pings do not land in the per-message CPU figure. */
  readonly keepaliveSeconds: number;
  readonly timeoutMs: number;
}

export interface Connected {
  readonly id: string;
  readonly client: MqttClient;
  readonly sessionReused: boolean;
  /** The latest TLS session the broker sent (a TLS 1.3 ticket arrives after the handshake). */
  session(): Buffer | undefined;
}

/** One device connection, resolved on CONNACK; rejects on a refusal, a close or the timeout. */
export function connectDevice(target: MqttTarget, device: DeviceCredential, session?: Buffer): Promise<Connected> {
  const client = mqtt.connect({
    protocol: "mqtts",
    host: target.host,
    port: target.port,
    servername: "localhost",
    ca: target.caPem,
    cert: device.certPem,
    key: device.keyPem,
    clientId: device.id,
    protocolVersion: 4,
    clean: true,
    keepalive: target.keepaliveSeconds,
    reconnectPeriod: 0,
    connectTimeout: target.timeoutMs,
    ...(session === undefined ? {} : { session }),
  });
  let latest: Buffer | undefined;
  (client.stream as TLSSocket).on("session", (ticket: Buffer) => (latest = ticket));
  return new Promise((resolve, reject) => {
    const fail = (error: Error) => {
      client.removeAllListeners("connect");
      client.end(true);
      reject(new Error(`${device.id}: ${error.message}`));
    };
    client.once("error", fail);
    client.once("close", () => fail(new Error("closed before CONNACK")));
    client.once("connect", () => {
      client.removeAllListeners("error").removeAllListeners("close");
      client.on("error", () => undefined); // late socket errors must not crash the bench
      const socket = client.stream as TLSSocket;
      resolve({
        id: device.id,
        client,
        sessionReused: socket.isSessionReused?.() ?? false,
        session: () => latest ?? socket.getSession?.(),
      });
    });
  });
}

/** Each device's latest TLS session, by device id: what a device would keep to resume with. */
export type SessionCache = Map<string, Buffer>;

/**
 * Connect → CONNACK → DISCONNECT, `count` times over `devices` (cycled), `concurrency` at once. With
 * `sessions`, each connect offers the device's cached session (if any) and the cache keeps the newest
 * one the broker sent; without, every connect is a full handshake.
 */
export async function handshakeCycles(
  target: MqttTarget,
  devices: readonly DeviceCredential[],
  count: number,
  concurrency: number,
  sessions?: { readonly cache: SessionCache; readonly offer: boolean },
): Promise<{ ok: number; resumed: number }> {
  let ok = 0;
  let resumed = 0;
  await runPool(count, concurrency, async (i) => {
    const device = devices[i % devices.length]!;
    const offered = sessions?.offer ? sessions.cache.get(device.id) : undefined;
    const connected = await connectDevice(target, device, offered);
    ok++;
    if (connected.sessionReused) resumed++;
    await connected.client.endAsync();
    const ticket = connected.session();
    if (sessions && ticket) sessions.cache.set(device.id, ticket);
  });
  return { ok, resumed };
}

export function connectAll(
  target: MqttTarget,
  devices: readonly DeviceCredential[],
  concurrency: number,
): Promise<Connected[]> {
  return runPool(devices.length, concurrency, (i) => connectDevice(target, devices[i]!));
}

/**
 * Drops every connection at once (no DISCONNECT: the broker sees the sockets close). A client whose
 * socket is already gone (kicked) is only told to stop: MQTT.js's end() on it may never call back.
 */
export async function closeAll(clients: readonly Connected[], timeoutMs = 10_000): Promise<void> {
  const open = clients.filter((c) => !c.client.stream.destroyed);
  for (const c of clients) if (c.client.stream.destroyed) c.client.end(true);
  let timer: NodeJS.Timeout | undefined;
  const ended = Promise.all(open.map((c) => c.client.endAsync(true).catch(() => undefined)));
  await Promise.race([ended, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
  clearTimeout(timer);
}
