/**
 * MQTT framing (3.1.1 §2.2): one fixed-header byte, then the Remaining Length as 1-4 bytes of
 * 7-bit groups (§2.2.3). The guard follows the byte stream and reports the first packet whose
 * total size exceeds the limit, as soon as its header is read and before its body arrives, so
 * an oversized packet is never buffered. An observer may look at each packet's body as it
 * streams past (src/domain/mqtt-inspector.ts) and refuse it.
 */
export type GuardVerdict =
  | { readonly ok: true }
  | { readonly ok: false; readonly size: number }
  | { readonly ok: false; readonly problem: string };

export interface FrameObserver {
  /** A fixed header is complete (the packet-type byte and the body length). */
  begin(typeByte: number, bodyLength: number): void;
  /** The next bytes of the current body, in order; returns why the packet is refused, or null. */
  body(bytes: Uint8Array): string | null;
  /** The current body is complete; returns why the packet is refused, or null. */
  end(): string | null;
}

const MAX_LENGTH_BYTES = 4;

export class PacketSizeGuard {
  private bodyLeft = 0;
  private inHeader = false;
  private typeByte = 0;
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;

  constructor(
    private readonly maxPacketSize: number,
    private readonly observer?: FrameObserver,
  ) {}

  feed(chunk: Uint8Array): GuardVerdict {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.bodyLeft > 0) {
        const take = Math.min(this.bodyLeft, chunk.length - offset);
        this.bodyLeft -= take;
        const problem = this.observeBody(chunk.subarray(offset, offset + take));
        if (problem !== null) return { ok: false, problem };
        offset += take;
        continue;
      }
      const verdict = this.headerByte(chunk[offset]!);
      offset += 1;
      if (verdict !== null) return verdict;
    }
    return { ok: true };
  }

  private observeBody(bytes: Uint8Array): string | null {
    if (this.observer === undefined) return null;
    const problem = this.observer.body(bytes);
    if (problem !== null || this.bodyLeft > 0) return problem;
    return this.observer.end();
  }

  /** Returns a verdict when a header completes badly, else null (keep going). */
  private headerByte(byte: number): GuardVerdict | null {
    if (!this.inHeader) {
      this.inHeader = true; // the packet-type byte
      this.typeByte = byte;
      this.length = 0;
      this.multiplier = 1;
      this.lengthBytes = 0;
      return null;
    }
    this.length += (byte & 0x7f) * this.multiplier;
    this.multiplier *= 128;
    this.lengthBytes += 1;
    if (byte & 0x80) {
      // §2.2.3: at most four length bytes; a fifth continuation is malformed, treat as too large.
      return this.lengthBytes >= MAX_LENGTH_BYTES ? { ok: false, size: Number.MAX_SAFE_INTEGER } : null;
    }
    this.inHeader = false;
    const size = 1 + this.lengthBytes + this.length;
    if (size > this.maxPacketSize) return { ok: false, size };
    this.bodyLeft = this.length;
    this.observer?.begin(this.typeByte, this.length);
    if (this.length === 0 && this.observer) {
      const problem = this.observer.end();
      if (problem !== null) return { ok: false, problem };
    }
    return null;
  }
}
