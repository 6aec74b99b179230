/**
 * MQTT framing (3.1.1 §2.2): one fixed-header byte, then the Remaining Length as 1-4 bytes of
 * 7-bit groups (§2.2.3). The guard follows the byte stream and reports the first packet whose
 * total size exceeds the limit, as soon as its header is read and before its body arrives, so
 * an oversized packet is never buffered.
 */
export type GuardVerdict = { ok: true } | { ok: false; size: number };

const MAX_LENGTH_BYTES = 4;

export class PacketSizeGuard {
  private bodyLeft = 0;
  private inHeader = false;
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;

  constructor(private readonly maxPacketSize: number) {}

  feed(chunk: Uint8Array): GuardVerdict {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.bodyLeft > 0) {
        const skip = Math.min(this.bodyLeft, chunk.length - offset);
        this.bodyLeft -= skip;
        offset += skip;
        continue;
      }
      const verdict = this.headerByte(chunk[offset]!);
      offset += 1;
      if (verdict !== null) return verdict;
    }
    return { ok: true };
  }

  /** Returns a verdict when a header completes badly, else null (keep going). */
  private headerByte(byte: number): GuardVerdict | null {
    if (!this.inHeader) {
      this.inHeader = true; // the packet-type byte
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
    return null;
  }
}
