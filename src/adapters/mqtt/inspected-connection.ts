import { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import type { GuardVerdict, PacketSizeGuard } from "../../domain/packet-size-guard.js";

type Refusal = Exclude<GuardVerdict, { ok: true }>;

/** The TLS socket behind each stream handed to Aedes: where the peer certificate and address are. */
const tlsSockets = new WeakMap<object, TLSSocket>();

export function tlsSocketOf(conn: unknown): TLSSocket | undefined {
  return typeof conn === "object" && conn !== null ? tlsSockets.get(conn) : undefined;
}

/** What Writable hands _writev; strings stay strings (decodeStrings: false): mqtt-packet writes topics as text. */
type Piece = { readonly chunk: Buffer | string; readonly encoding: BufferEncoding };

function bytesOf({ chunk, encoding }: Piece): Buffer {
  return typeof chunk === "string" ? Buffer.from(chunk, encoding) : chunk;
}

function joined(pieces: readonly Piece[]): Buffer {
  if (pieces.length === 1) return bytesOf(pieces[0]!);
  let length = 0;
  for (const { chunk, encoding } of pieces)
    length += typeof chunk === "string" ? Buffer.byteLength(chunk, encoding) : chunk.length;
  const out = Buffer.allocUnsafe(length);
  let offset = 0;
  for (const { chunk, encoding } of pieces)
    offset += typeof chunk === "string" ? out.write(chunk, offset, encoding) : chunk.copy(out, offset);
  return out;
}

/**
 * What Aedes reads from and writes to instead of the TLS socket (`broker.handle(stream)` takes any
 * duplex stream): every inbound chunk passes the packet guard first, so a packet over the size limit,
 * an ill-formed UTF-8 topic or an oversized SUBSCRIBE closes the connection before the parser sees a
 * byte of it. Backpressure is passed through both ways; the pieces mqtt-packet writes a packet in are
 * forwarded as one buffer, so a packet leaves in one TLS record.
 */
export class InspectedConnection extends Duplex {
  constructor(
    private readonly socket: TLSSocket,
    guard: PacketSizeGuard,
    onRefused: (refusal: Refusal) => void,
  ) {
    super({ allowHalfOpen: false, decodeStrings: false });
    tlsSockets.set(this, socket);
    socket.on("data", (chunk: Buffer) => {
      const verdict = guard.feed(chunk);
      if (!verdict.ok) {
        onRefused(verdict);
        this.destroy();
        return;
      }
      if (!this.push(chunk)) socket.pause();
    });
    socket.once("end", () => this.push(null));
    // `on`, not `once`: a second error from the socket must not go unhandled (and crash the process).
    socket.on("error", (error: Error) => this.destroy(error));
    socket.once("close", () => this.destroy());
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer | string, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.writeOut(bytesOf({ chunk, encoding }), callback);
  }

  /** One packet's pieces (mqtt-packet writes a PUBLISH in about six), joined: one socket write, not six. */
  override _writev(chunks: Piece[], callback: (error?: Error | null) => void): void {
    this.writeOut(joined(chunks), callback);
  }

  private writeOut(chunk: Buffer, callback: (error?: Error | null) => void): void {
    if (this.socket.write(chunk)) callback();
    else this.socket.once("drain", () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.socket.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.destroy();
    callback(error);
  }
}
