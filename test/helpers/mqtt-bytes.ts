import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from "node:tls";
import type { TestFleetgate } from "./fleetgate.js";

/**
 * MQTT 3.1.1 control packets built byte by byte, of any size (§2.2.3 Remaining Length), for what a
 * well-behaved client refuses to send (ill-formed UTF-8, QoS 2 without PUBREL, thousands of
 * filters), and a reader of the server's answers. Strings may be given as raw bytes.
 */
export type Bytes = string | Buffer;

const bytes = (value: Bytes): Buffer => (typeof value === "string" ? Buffer.from(value, "utf8") : value);

/** §2.2.3: 7 bits per byte, continuation bit 0x80, at most four bytes. */
export function remainingLength(length: number): Buffer {
  const out: number[] = [];
  let left = length;
  do {
    let digit = left % 128;
    left = Math.floor(left / 128);
    if (left > 0) digit |= 0x80;
    out.push(digit);
  } while (left > 0);
  return Buffer.from(out);
}

export function frame(typeByte: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([typeByte]), remainingLength(body.length), body]);
}

/** §1.5.3: two length bytes, then the bytes (not checked: ill-formed ones are the point). */
export function lengthPrefixed(value: Bytes): Buffer {
  const raw = bytes(value);
  return Buffer.concat([Buffer.from([raw.length >> 8, raw.length & 0xff]), raw]);
}

const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);

export interface ConnectFields {
  readonly clientId: Bytes;
  readonly clean?: boolean;
  readonly keepalive?: number;
  readonly will?: { readonly topic: Bytes; readonly message: Bytes; readonly qos?: 0 | 1 | 2 };
  readonly username?: Bytes;
}

/** §3.1: protocol "MQTT" level 4. */
export function connect(fields: ConnectFields): Buffer {
  let flags = fields.clean === false ? 0 : 0x02;
  const payload = [lengthPrefixed(fields.clientId)];
  if (fields.will) {
    flags |= 0x04 | ((fields.will.qos ?? 0) << 3);
    payload.push(lengthPrefixed(fields.will.topic), lengthPrefixed(fields.will.message));
  }
  if (fields.username !== undefined) {
    flags |= 0x80;
    payload.push(lengthPrefixed(fields.username));
  }
  const header = Buffer.concat([lengthPrefixed("MQTT"), Buffer.from([4, flags]), u16(fields.keepalive ?? 60)]);
  return frame(0x10, Buffer.concat([header, ...payload]));
}

export function publish(
  topic: Bytes,
  payload: Bytes,
  options: { qos?: 0 | 1 | 2; messageId?: number; retain?: boolean; dup?: boolean } = {},
): Buffer {
  const qos = options.qos ?? 0;
  const typeByte = 0x30 | (options.dup ? 0x08 : 0) | (qos << 1) | (options.retain ? 1 : 0);
  const id = qos > 0 ? u16(options.messageId ?? 1) : Buffer.alloc(0);
  return frame(typeByte, Buffer.concat([lengthPrefixed(topic), id, bytes(payload)]));
}

/** [MQTT-3.6.1-1]: fixed header 0x62. */
export function pubrel(messageId: number): Buffer {
  return frame(0x62, u16(messageId));
}

/** [MQTT-3.8.1-1]: fixed header 0x82; each filter followed by its requested QoS. */
export function subscribe(messageId: number, filters: readonly Bytes[], qos: 0 | 1 | 2 = 0): Buffer {
  const body = filters.flatMap((filter) => [lengthPrefixed(filter), Buffer.from([qos])]);
  return frame(0x82, Buffer.concat([u16(messageId), ...body]));
}

/** [MQTT-3.10.1-1]: fixed header 0xA2. */
export function unsubscribe(messageId: number, filters: readonly Bytes[]): Buffer {
  return frame(0xa2, Buffer.concat([u16(messageId), ...filters.map(lengthPrefixed)]));
}

export const DISCONNECT = Buffer.from([0xe0, 0x00]);

export const TYPE = { connack: 2, publish: 3, puback: 4, pubrec: 5, pubrel: 6, pubcomp: 7, suback: 9, unsuback: 11 };

export interface ReadPacket {
  readonly type: number;
  readonly flags: number;
  readonly body: Buffer;
}

/** The complete packets in `stream`, in order (an incomplete trailing one is left out). */
export function packetsIn(stream: Buffer): ReadPacket[] {
  const out: ReadPacket[] = [];
  let offset = 0;
  while (offset < stream.length) {
    let length = 0;
    let multiplier = 1;
    let at = offset + 1;
    for (;;) {
      if (at >= stream.length) return out;
      const digit = stream[at++]!;
      length += (digit & 0x7f) * multiplier;
      multiplier *= 128;
      if ((digit & 0x80) === 0) break;
    }
    if (at + length > stream.length) return out;
    out.push({ type: stream[offset]! >> 4, flags: stream[offset]! & 0x0f, body: stream.subarray(at, at + length) });
    offset = at + length;
  }
  return out;
}

export const ofType = (stream: Buffer, type: number) => packetsIn(stream).filter((p) => p.type === type);

/** The CONNACK return code, or null when none arrived. */
export function connackCode(stream: Buffer): number | null {
  const connack = ofType(stream, TYPE.connack)[0];
  return connack ? connack.body[1]! : null;
}

/** A raw MQTT connection over TLS (or plain TCP): send bytes, wait for answers, see when the server closes. */
export interface Wire {
  readonly socket: Socket;
  send(data: Buffer): void;
  received(): Buffer;
  /** Resolves once `predicate(all bytes so far)` holds; rejects when the connection closes first. */
  waitFor(predicate: (received: Buffer) => boolean, what?: string): Promise<void>;
  /** Resolves when the connection is closed (by either side), with the time it happened. */
  readonly closed: Promise<number>;
  isClosed(): boolean;
  close(): void;
}

function wire(socket: Socket): Wire {
  let buffer = Buffer.alloc(0);
  let isClosed = false;
  const watchers = new Set<() => void>();
  const notify = () => [...watchers].forEach((watcher) => watcher());
  socket.on("data", (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    notify();
  });
  socket.on("error", () => undefined);
  const closed = new Promise<number>((resolve) =>
    socket.once("close", () => {
      isClosed = true;
      resolve(Date.now());
      notify();
    }),
  );
  return {
    socket,
    send: (data) => void socket.write(data),
    received: () => buffer,
    waitFor(predicate, what = "a condition") {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (predicate(buffer)) {
            watchers.delete(check);
            resolve();
          } else if (isClosed) {
            watchers.delete(check);
            reject(new Error(`connection closed before ${what}; received ${buffer.length} bytes`));
          }
        };
        watchers.add(check);
        check();
      });
    },
    closed,
    isClosed: () => isClosed,
    close: () => socket.destroy(),
  };
}

export interface TlsWire extends Wire {
  readonly socket: TLSSocket;
  /** The latest TLS session the server offered for resumption (TLS 1.3 ticket, TLS 1.2 session). */
  session(): Buffer | undefined;
}

/** An mTLS connection to the test gateway (resolves once the handshake is done). */
export function openTls(
  fg: Pick<TestFleetgate, "rootCaPem">,
  port: number,
  identity: { readonly certPem?: string; readonly keyPem?: string },
  extra: ConnectionOptions = {},
): Promise<TlsWire> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: "127.0.0.1",
      port,
      servername: "localhost",
      ca: fg.rootCaPem,
      cert: identity.certPem,
      key: identity.keyPem,
      ...extra,
    });
    let ticket: Buffer | undefined;
    socket.on("session", (session: Buffer) => (ticket = session));
    const connection: TlsWire = { ...wire(socket), socket, session: () => ticket };
    socket.once("secureConnect", () => resolve(connection));
    socket.once("error", reject);
  });
}

/** A plain TCP connection (resolves once connected), optionally from a given local address and port. */
export function openTcp(port: number, localAddress?: string, host = "127.0.0.1", localPort?: number): Promise<Wire> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({
      host,
      port,
      ...(localAddress ? { localAddress } : {}),
      ...(localPort ? { localPort } : {}),
    });
    const connection = wire(socket);
    socket.once("connect", () => resolve(connection));
    socket.once("error", reject);
  });
}
