import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PacketSizeGuard, type GuardVerdict } from "../../src/domain/packet-size-guard.js";

/** MQTT 3.1.1 §2.2.3 Remaining Length: 7 bits per byte, least significant group first, at most 4 bytes. */
function remainingLength(length: number): number[] {
  const bytes: number[] = [];
  let rest = length;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    bytes.push(byte);
  } while (rest > 0);
  return bytes;
}

function header(type: number, length: number): Buffer {
  return Buffer.from([type, ...remainingLength(length)]);
}

function packet(type: number, length: number, fill = 0x61): Buffer {
  return Buffer.concat([header(type, length), Buffer.alloc(length, fill)]);
}

/** Feeds the chunks in order; returns the index of the first chunk with a refusal and the verdict, or null. */
function feedAll(
  guard: PacketSizeGuard,
  chunks: readonly Uint8Array[],
): { chunk: number; verdict: GuardVerdict } | null {
  for (const [index, chunk] of chunks.entries()) {
    const verdict = guard.feed(chunk);
    if (!verdict.ok) return { chunk: index, verdict };
  }
  return null;
}

function splitAt(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of [...points, bytes.length]) {
    if (point > start) chunks.push(bytes.subarray(start, point));
    start = Math.max(start, point);
  }
  return chunks;
}

describe("PacketSizeGuard", () => {
  it("counts the whole packet (type byte + length bytes + body) against the limit: size = limit passes, limit + 1 does not", () => {
    // 200-byte body needs two length bytes: 1 + 2 + 200 = 203.
    expect(new PacketSizeGuard(203).feed(packet(0x30, 200))).toEqual({ ok: true });
    expect(new PacketSizeGuard(202).feed(packet(0x30, 200))).toEqual({ ok: false, size: 203 });
    // 127-byte body: one length byte, 129 in all; 128 needs two, 131 in all.
    expect(new PacketSizeGuard(129).feed(packet(0x30, 127))).toEqual({ ok: true });
    expect(new PacketSizeGuard(130).feed(packet(0x30, 128))).toEqual({ ok: false, size: 131 });
  });

  it("accepts zero-length packets (PINGREQ, DISCONNECT) back to back", () => {
    const guard = new PacketSizeGuard(2);
    expect(guard.feed(Buffer.from([0xc0, 0x00, 0xe0, 0x00, 0xc0, 0x00]))).toEqual({ ok: true });
  });

  it("refuses as soon as the length is known, before any body byte arrives", () => {
    const guard = new PacketSizeGuard(1024);
    expect(guard.feed(Buffer.from([0x30]))).toEqual({ ok: true });
    expect(guard.feed(Buffer.from([0x80]))).toEqual({ ok: true }); // more length bytes follow
    expect(guard.feed(Buffer.from([0x08]))).toEqual({ ok: false, size: 1 + 2 + 1024 });
  });

  it("reports sizes with three and four length bytes", () => {
    expect(new PacketSizeGuard(100).feed(header(0x30, 16_384))).toEqual({ ok: false, size: 1 + 3 + 16_384 });
    expect(new PacketSizeGuard(100).feed(header(0x30, 268_435_455))).toEqual({ ok: false, size: 1 + 4 + 268_435_455 });
    expect(header(0x30, 268_435_455).toString("hex")).toBe("30ffffff7f");
  });

  it("treats a fifth length byte (a continuation bit on the fourth) as malformed, whatever the limit", () => {
    expect(new PacketSizeGuard(268_435_460).feed(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]))).toEqual({
      ok: false,
      size: Number.MAX_SAFE_INTEGER,
    });
  });

  it("skips a body split across many chunks and checks the next packet's header", () => {
    const guard = new PacketSizeGuard(10);
    const stream = Buffer.concat([packet(0x30, 8), packet(0x30, 9)]); // 10 bytes, then 11
    const verdicts = [...stream].map((byte) => guard.feed(Buffer.from([byte])));
    expect(verdicts.findIndex((v) => !v.ok)).toBe(11); // the second packet's length byte
    expect(verdicts[11]).toEqual({ ok: false, size: 11 });
  });

  it("never refuses a body byte that merely looks like a header", () => {
    const guard = new PacketSizeGuard(20);
    // The body holds 0x30 0xff 0xff 0xff 0x7f, a huge packet's header, as payload bytes.
    expect(guard.feed(Buffer.concat([header(0x30, 10), Buffer.from("30ffffff7f3030303030", "hex")]))).toEqual({
      ok: true,
    });
  });

  /**
   * Body lengths: mostly small, some near the limit (where off-by-one errors live), a few up to the protocol
   * maximum.
   */
  const packetLength = (limit: number) =>
    fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: 0, max: 300 }) },
      { weight: 2, arbitrary: fc.integer({ min: Math.max(0, limit - 6), max: limit + 1 }) },
      { weight: 2, arbitrary: fc.integer({ min: 0, max: 40_000 }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 268_435_455 }) },
    );

  it("property: over random packet streams cut into random chunks, it reports exactly the first oversized packet, in the chunk that completes its header, and nothing else", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 40_000 }).chain((limit) =>
          fc.tuple(
            fc.constant(limit),
            fc.array(fc.record({ type: fc.integer({ min: 0, max: 255 }), length: packetLength(limit) }), {
              minLength: 1,
              maxLength: 12,
            }),
          ),
        ),
        fc.array(fc.nat(), { maxLength: 40 }),
        fc.integer({ min: 0, max: 64 }),
        ([limit, packets], cuts, tail) => {
          const parts: Buffer[] = [];
          let expected: { size: number; headerEnd: number } | null = null;
          let offset = 0;
          for (const { type, length } of packets) {
            const head = header(type, length);
            const size = head.length + length;
            if (size > limit) {
              // Only part of an oversized body is ever sent: the guard must not need it.
              expected = { size, headerEnd: offset + head.length };
              parts.push(head, Buffer.alloc(Math.min(tail, length), 0x30));
              break;
            }
            parts.push(packet(type, length, type));
            offset += size;
          }
          const stream = Buffer.concat(parts);
          const chunks = splitAt(stream, cuts);
          const result = feedAll(new PacketSizeGuard(limit), chunks);
          if (expected === null) {
            expect(result).toBeNull();
            return;
          }
          expect(result?.verdict).toEqual({ ok: false, size: expected.size });
          // The chunk that holds the header's last byte is the one refused.
          let consumed = 0;
          let holder = -1;
          for (const [index, chunk] of chunks.entries()) {
            consumed += chunk.length;
            if (consumed >= expected.headerEnd) {
              holder = index;
              break;
            }
          }
          expect(result?.chunk).toBe(holder);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("property: packets within the limit are never refused, however they are chunked", () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 2, max: 5_000 })
          .chain((limit) =>
            fc.tuple(
              fc.constant(limit),
              fc.array(
                fc.record({ type: fc.integer({ min: 0, max: 255 }), body: fc.integer({ min: 0, max: limit }) }),
                { maxLength: 20 },
              ),
            ),
          ),
        fc.array(fc.nat(), { maxLength: 60 }),
        ([limit, specs], cuts) => {
          const packets = specs
            .map(({ type, body }) => ({ type, length: Math.max(0, body - 1 - remainingLength(body).length) }))
            .filter(({ length }) => 1 + remainingLength(length).length + length <= limit);
          const stream = Buffer.concat(packets.map(({ type, length }) => packet(type, length)));
          expect(feedAll(new PacketSizeGuard(limit), splitAt(stream, cuts))).toBeNull();
        },
      ),
      { numRuns: 300 },
    );
  });
});
