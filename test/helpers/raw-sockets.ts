import { connect as tcpConnect, type Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";

/**
 * Sockets driven by hand, for what an HTTP client library would never do: open a connection and send
 * nothing, stop half-way through a request, hold connections open.
 */
export interface Closed {
  /** Milliseconds from connect (TCP) or from the finished handshake (TLS) to the close. */
  readonly afterMs: number;
  /** Everything the server sent, as text. */
  readonly received: string;
}

function whenClosed(socket: Socket, since: () => number): Promise<Closed> {
  let received = "";
  socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
  socket.on("error", () => undefined); // a reset is a close too
  return new Promise((resolve) => socket.once("close", () => resolve({ afterMs: Date.now() - since(), received })));
}

/** A TCP connection that sends `payload` (nothing by default) and waits for the server to close it. */
export function rawTcp(port: number, payload?: string): { socket: Socket; closed: Promise<Closed> } {
  const start = Date.now();
  const socket = tcpConnect(port, "127.0.0.1", () => {
    if (payload !== undefined) socket.write(payload);
  });
  return { socket, closed: whenClosed(socket, () => start) };
}

export interface TlsPeer {
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
}

/**
 * A TLS connection that completes its handshake (verifying the server against `ca`), then sends
 * `payload`; `closed` settles when the server closes it, `secure` when the handshake is done.
 */
export function rawTls(
  port: number,
  peer: TlsPeer,
  payload?: string | Buffer,
): { socket: TLSSocket; secure: Promise<void>; closed: Promise<Closed> } {
  let secureAt = Date.now();
  const socket = tlsConnect({ port, host: "127.0.0.1", servername: "localhost", ...peer });
  const secure = new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", () => {
      secureAt = Date.now();
      if (payload !== undefined) socket.write(payload);
      resolve();
    });
    socket.once("error", reject);
  });
  secure.catch(() => undefined);
  return { socket, secure, closed: whenClosed(socket, () => secureAt) };
}

/** The HTTP status of the first response in `received` (0 if none). */
export function statusOf(received: string): number {
  const match = /^HTTP\/1\.1 (\d{3})/.exec(received);
  return match ? Number(match[1]) : 0;
}

/** The JSON body of the first response in `received`. */
export function bodyOf(received: string): unknown {
  const start = received.indexOf("\r\n\r\n");
  return JSON.parse(received.slice(start + 4));
}

/** Resolves once `socket` is connected (TCP) — i.e. the server accepted it into its backlog. */
export function connected(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!socket.connecting) return resolve();
    socket.once("connect", () => resolve());
    socket.once("error", reject);
  });
}
