import { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import type { GuardVerdict, PacketSizeGuard } from "../../domain/packet-size-guard.js";

type Refusal = Exclude<GuardVerdict, { ok: true }>;

/** The TLS socket behind each stream handed to Aedes: where the peer certificate and address are. */
const tlsSockets = new WeakMap<object, TLSSocket>();

export function tlsSocketOf(conn: unknown): TLSSocket | undefined {
  return typeof conn === "object" && conn !== null ? tlsSockets.get(conn) : undefined;
}

/** Module-level, so a connection's batching costs no closure of its own. */
function uncorkSocket(connection: InspectedConnection): void {
  connection.flushCorked();
}

/**
 * What Aedes reads from and writes to instead of the TLS socket (`broker.handle(stream)` takes any
 * duplex stream): every inbound chunk passes the packet guard first, so a packet over the size limit,
 * an ill-formed UTF-8 topic or an oversized SUBSCRIBE closes the connection before the parser sees a
 * byte of it. Backpressure is passed through both ways; writes are forwarded corked until the next
 * turn of the event loop (mqtt-packet writes a packet in several pieces, Aedes many packets at once).
 */
export class InspectedConnection extends Duplex {
  private corked = false;

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

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.corkUntilNextTurn();
    if (this.socket.write(chunk)) callback();
    else this.socket.once("drain", () => callback());
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this.corkUntilNextTurn();
    let flushed = true;
    for (const { chunk } of chunks) flushed = this.socket.write(chunk);
    if (flushed) callback();
    else this.socket.once("drain", () => callback());
  }

  /**
   * Every packet written to this connection during one turn of the event loop leaves in one TLS
   * record and one syscall: a subscriber receiving many deliveries at once (Aedes writes each from its
   * own setImmediate) costs one encryption and one write instead of one per packet. The socket is
   * uncorked in the next check phase; write() still reports back-pressure while corked, and end()
   * uncorks what is left.
   */
  private corkUntilNextTurn(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    setImmediate(uncorkSocket, this);
  }

  /** @internal for uncorkSocket */
  flushCorked(): void {
    this.corked = false;
    this.socket.uncork();
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
