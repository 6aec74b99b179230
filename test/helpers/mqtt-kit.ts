import { connect, type TLSSocket } from "node:tls";
import mqtt, { type IClientOptions, type MqttClient, type Packet } from "mqtt";
import { mqttOptions } from "./devices.js";
import type { TestFleetgate } from "./fleetgate.js";

/**
 * Byte-level MQTT over TLS, for packets the real clients refuse to send (an empty client id with
 * CleanSession=0) and for checking exactly which bytes the gateway answers with.
 */
export interface RawExchange {
  /** Every byte the server sent before it closed the connection (or before `settle` resolved). */
  readonly received: Buffer;
  /** Whether the server closed the connection. */
  readonly closed: boolean;
  readonly error: string | null;
}

export interface RawIdentity {
  readonly certPem?: string;
  readonly keyPem?: string;
}

/** A CONNECT (MQTT 3.1.1, protocol level 4) with the given client id and flags, built by hand. */
export function connectPacket(
  clientId: string,
  options: { clean: boolean; keepalive?: number; level?: number },
): Buffer {
  const id = Buffer.from(clientId, "utf8");
  const keepalive = options.keepalive ?? 60;
  const variable = Buffer.from([
    0x00,
    0x04,
    0x4d,
    0x51,
    0x54,
    0x54,
    options.level ?? 4,
    options.clean ? 0x02 : 0x00,
    keepalive >> 8,
    keepalive & 0xff,
  ]);
  const payload = Buffer.concat([Buffer.from([id.length >> 8, id.length & 0xff]), id]);
  const remaining = variable.length + payload.length;
  if (remaining > 127) throw new Error("keep test client ids short");
  return Buffer.concat([Buffer.from([0x10, remaining]), variable, payload]);
}

/** Opens a TLS connection, sends `bytes`, and collects the answer until the server closes it or `until` holds. */
export function rawExchange(
  fg: TestFleetgate,
  identity: RawIdentity,
  bytes: Buffer,
  until: (received: Buffer) => boolean = () => false,
  timeoutMs = 10_000,
): Promise<RawExchange> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: string | null = null;
    let settled = false;
    const socket: TLSSocket = connect({
      host: "localhost",
      port: fg.running.ports.mqtt,
      ca: fg.rootCaPem,
      cert: identity.certPem,
      key: identity.keyPem,
      servername: "localhost",
    });
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ received: Buffer.concat(chunks), closed, error });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.once("secureConnect", () => socket.write(bytes));
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      if (until(Buffer.concat(chunks))) finish(false);
    });
    socket.on("error", (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message;
    });
    socket.on("close", () => finish(true));
  });
}

/** A PUBLISH built by hand (QoS 0-2, optional DUP flag; a message id for QoS > 0). */
export function publishPacket(
  topic: string,
  payload: string,
  options: { qos: 0 | 1 | 2; messageId?: number; dup?: boolean },
): Buffer {
  const name = Buffer.from(topic, "utf8");
  const id =
    options.qos > 0 ? Buffer.from([(options.messageId ?? 1) >> 8, (options.messageId ?? 1) & 0xff]) : Buffer.alloc(0);
  const body = Buffer.concat([
    Buffer.from([name.length >> 8, name.length & 0xff]),
    name,
    id,
    Buffer.from(payload, "utf8"),
  ]);
  if (body.length > 127) throw new Error("keep raw test packets short");
  return Buffer.concat([Buffer.from([0x30 | (options.dup ? 0x08 : 0) | (options.qos << 1), body.length]), body]);
}

/** PUBREL for a message id (fixed header 0x62 per [MQTT-3.6.1-1]). */
export function pubrelPacket(messageId: number): Buffer {
  return Buffer.from([0x62, 0x02, messageId >> 8, messageId & 0xff]);
}

/** An interactive TLS connection that speaks bytes: send, then wait until the received bytes satisfy a predicate. */
export interface RawSession {
  send(bytes: Buffer): void;
  received(): Buffer;
  /** Resolves once `predicate(all bytes received so far)` holds; rejects if the connection closes first. */
  waitFor(predicate: (received: Buffer) => boolean): Promise<void>;
  readonly closed: Promise<void>;
  close(): void;
}

export function openRaw(fg: TestFleetgate, identity: RawIdentity): Promise<RawSession> {
  return new Promise((resolve, reject) => {
    const socket: TLSSocket = connect({
      host: "localhost",
      port: fg.running.ports.mqtt,
      ca: fg.rootCaPem,
      cert: identity.certPem,
      key: identity.keyPem,
      servername: "localhost",
    });
    let buffer = Buffer.alloc(0);
    const watchers = new Set<() => void>();
    const closed = new Promise<void>((done) => socket.once("close", () => done()));
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (const watcher of [...watchers]) watcher();
    });
    socket.on("close", () => {
      for (const watcher of [...watchers]) watcher();
    });
    socket.on("error", () => undefined);
    socket.once("secureConnect", () =>
      resolve({
        send: (bytes) => socket.write(bytes),
        received: () => buffer,
        waitFor(predicate) {
          return new Promise((ok, fail) => {
            const check = () => {
              if (predicate(buffer)) {
                watchers.delete(check);
                ok();
              } else if (socket.destroyed) {
                watchers.delete(check);
                fail(new Error(`connection closed; received ${buffer.toString("hex")}`));
              }
            };
            watchers.add(check);
            check();
          });
        },
        closed,
        close: () => socket.destroy(),
      }),
    );
    socket.once("error", reject);
  });
}

/** Whether `received` contains `packet` (as a byte sequence). */
export function hasBytes(received: Buffer, packet: Buffer | string): boolean {
  return received.includes(typeof packet === "string" ? Buffer.from(packet, "hex") : packet);
}

/** A MQTT.js client's next 'close' as a promise (resolves at once if it is already disconnected). */
export function closed(client: MqttClient): Promise<void> {
  if (client.disconnected || (!client.connected && !client.reconnecting && client.stream?.destroyed))
    return Promise.resolve();
  return new Promise((resolve) => client.once("close", () => resolve()));
}

/** Collects every message a client receives, in order. */
export function recorder(client: MqttClient): { topic: string; payload: string }[] {
  const seen: { topic: string; payload: string }[] = [];
  client.on("message", (topic, payload) => seen.push({ topic, payload: payload.toString() }));
  return seen;
}

/** Resolves once `predicate` holds for the recorded messages (checked on every new message). */
export function until(
  client: MqttClient,
  seen: readonly { topic: string; payload: string }[],
  predicate: (seen: readonly { topic: string; payload: string }[]) => boolean,
  timeoutMs = 10_000,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.removeListener("message", check);
      reject(new Error(`condition not met; messages: ${JSON.stringify(seen)}`));
    }, timeoutMs);
    const check = () => {
      // The recorder's listener was registered first, so `seen` already holds the new message.
      if (!predicate(seen)) return;
      clearTimeout(timer);
      client.removeListener("message", check);
      resolve();
    };
    client.on("message", check);
    check();
  });
}

/** Current value of a counter or gauge, summed over series whose labels include `labels`. */
export async function metricValue(
  fg: TestFleetgate,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = fg.running.metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  return values
    .filter((value) =>
      Object.entries(labels).every(
        ([key, expected]) => String((value.labels as Record<string, unknown>)[key]) === expected,
      ),
    )
    .reduce((sum, value) => sum + value.value, 0);
}

export { mqtt };

type LogLine = Record<string, unknown>;

function matches(line: LogLine, expected: LogLine): boolean {
  return Object.entries(expected).every(([key, value]) => line[key] === value);
}

/**
 * Resolves with the log lines matching `expected` once there are at least `count` of them. The
 * server logs a refusal on its own schedule (e.g. after the client already saw the socket close),
 * so tests wait for the line instead of reading the log right away. Polls; the timeout is only a
 * safety net.
 */
export async function waitForLogs(
  fg: TestFleetgate,
  expected: LogLine,
  count = 1,
  timeoutMs = 10_000,
): Promise<LogLine[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = fg.logs.lines.filter((line) => matches(line, expected));
    if (found.length >= count) return found;
    if (Date.now() > deadline)
      throw new Error(`expected ${count} log line(s) like ${JSON.stringify(expected)}, found ${found.length}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** How many log lines match `expected` right now. */
export function countLogs(fg: TestFleetgate, expected: LogLine): number {
  return fg.logs.lines.filter((line) => matches(line, expected)).length;
}

/**
 * SUBSCRIBE and resolve with the SUBACK return codes as sent (0x80 = refused). MQTT.js's own
 * subscribe callback turns any 0x80 into an error and drops the per-filter codes.
 */
export function subackCodes(client: MqttClient, filters: string[], qos: 0 | 1 | 2 = 0): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const onPacket = (packet: Packet) => {
      if (packet.cmd !== "suback") return;
      client.removeListener("packetreceive", onPacket);
      client.removeListener("close", onClose);
      resolve(packet.granted as number[]);
    };
    const onClose = () => {
      client.removeListener("packetreceive", onPacket);
      reject(new Error("connection closed before SUBACK"));
    };
    client.on("packetreceive", onPacket);
    client.once("close", onClose);
    client.subscribe(filters, { qos }, () => undefined);
  });
}

/** Like connectDevice, but also hands back the CONNACK (e.g. for its session-present flag). */
export function connectWithConnack(
  fg: TestFleetgate,
  device: { certPem: string; keyPem: string; id?: string },
  extra: IClientOptions = {},
): Promise<{ client: MqttClient; connack: { sessionPresent: boolean; returnCode?: number } }> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(mqttOptions(fg, device, extra));
    client.once("connect", (connack) =>
      resolve({ client, connack: { sessionPresent: connack.sessionPresent, returnCode: connack.returnCode } }),
    );
    client.once("error", (error) => {
      client.end(true);
      reject(error);
    });
    client.once("close", () => reject(new Error("closed before CONNACK")));
  });
}

/** Polls `condition` until it holds (the server updates gauges on its own schedule); the timeout is a safety net. */
export async function eventually(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
