/**
 * The smallest MQTT 3.1.1 client that holds an idle mTLS session: tls.connect, one CONNECT packet,
 * wait for CONNACK, then nothing but PINGREQ now and then. The connections benchmark opens tens of
 * thousands of these per load process, where MQTT.js's per-client state (stores, timers, parser)
 * would make the load generator, not the broker, the thing measured. No session resumption (no
 * `session` passed), so every connect is a full handshake, as a device's first connect is.
 */
import { performance } from "node:perf_hooks";
import { connect, type SecureContext, type TLSSocket } from "node:tls";

export interface RawTarget {
  readonly host: string;
  readonly port: number;
  /** Source address of the TCP connection (127.0.0.x spreads connections over several port ranges). */
  readonly localAddress?: string;
  readonly keepaliveSeconds: number;
  readonly timeoutMs: number;
}

export interface RawSession {
  readonly id: string;
  readonly socket: TLSSocket;
  /** TCP connect → TLS handshake → CONNECT → CONNACK, ms. */
  readonly latencyMs: number;
}

/** CONNECT, protocol level 4 (3.1.1), CleanSession=1, no will, no username/password. */
export function connectPacket(clientId: string, keepaliveSeconds: number): Buffer {
  const id = Buffer.from(clientId, "utf8");
  const variable = Buffer.from([
    0x00,
    0x04,
    0x4d,
    0x51,
    0x54,
    0x54,
    0x04,
    0x02,
    keepaliveSeconds >> 8,
    keepaliveSeconds & 0xff,
  ]);
  const remaining = variable.length + 2 + id.length;
  if (remaining > 127) throw new Error(`client id ${clientId} too long for this one-byte-length CONNECT`);
  const head = Buffer.from([0x10, remaining, id.length >> 8, id.length & 0xff]);
  return Buffer.concat([head.subarray(0, 2), variable, head.subarray(2), id]);
}

export const PINGREQ = Buffer.from([0xc0, 0x00]);
export const DISCONNECT = Buffer.from([0xe0, 0x00]);

/** The CONNACK return code (0 = accepted) if `data` starts with a CONNACK, else null. */
export function connackCode(data: Buffer): number | null {
  if (data.length < 4 || data[0] !== 0x20 || data[1] !== 0x02) return null;
  return data[3]!;
}

/** One device session, resolved on CONNACK 0; rejects on a refusal, a close or the timeout. */
export function rawConnect(target: RawTarget, id: string, secureContext: SecureContext): Promise<RawSession> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: target.host,
      port: target.port,
      servername: "localhost",
      secureContext,
      ...(target.localAddress ? { localAddress: target.localAddress } : {}),
    });
    const timer = setTimeout(() => fail(new Error(`no CONNACK within ${target.timeoutMs} ms`)), target.timeoutMs);
    const fail = (error: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new Error(`${id}: ${error.message}`));
    };
    const onClose = () => fail(new Error("closed before CONNACK"));
    socket.once("error", fail);
    socket.once("close", onClose);
    socket.once("secureConnect", () => socket.write(connectPacket(id, target.keepaliveSeconds)));
    socket.once("data", (data: Buffer) => {
      const code = connackCode(data);
      if (code !== 0) return fail(new Error(code === null ? "no CONNACK" : `CONNACK return code ${code}`));
      clearTimeout(timer);
      socket.removeListener("error", fail).removeListener("close", onClose);
      socket.on("error", () => undefined); // a late reset must not crash the load process
      socket.on("data", () => undefined); // PINGRESPs; flowing mode keeps the socket read
      resolve({ id, socket, latencyMs: performance.now() - started });
    });
  });
}
