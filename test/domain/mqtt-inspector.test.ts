import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MqttInspector, type InspectionProblem } from "../../src/domain/mqtt-inspector.js";
import { PacketSizeGuard, type GuardVerdict } from "../../src/domain/packet-size-guard.js";
import * as wire from "../helpers/mqtt-bytes.js";
import { nearlyValidUtf8, referenceWellFormed } from "../helpers/utf8-reference.js";

/*
 * The byte-level inspector in front of the MQTT parser. It protects two promises of the hardening:
 *  - [MQTT-1.5.3-1] an ill-formed UTF-8 topic, filter, client id, will topic or user name closes the
 *    connection (the pre-fix broker let mqtt-packet decode it leniently to U+FFFD and accepted it);
 *  - a SUBSCRIBE with more than mqtt.maxFiltersPerSubscribe filters closes the connection before
 *    Aedes works on any of them (the pre-fix broker had no such cap: 2,000 filters stalled it 17-37 s).
 * TCP delivers a stream in arbitrary pieces, so the verdict must not depend on where it is cut.
 */

const MAX_PACKET = 400;
const MAX_FILTERS = 4;

interface Generated {
  readonly bytes: Buffer;
  /** What the guard must say about this packet on its own. */
  readonly expected: GuardVerdict;
}

const ok: GuardVerdict = { ok: true };
const problem = (p: InspectionProblem): GuardVerdict => ({ ok: false, problem: p });

/** Mostly well-formed strings, some ill-formed, as raw bytes. */
const utf8ish = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 10 }).map((s) => Buffer.from(s, "utf8")) },
  { weight: 2, arbitrary: nearlyValidUtf8(10).map((b) => Buffer.from(b)) },
);
const anyPayload = fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b));

function withSize(bytes: Buffer, verdict: GuardVerdict): Generated {
  return { bytes, expected: bytes.length > MAX_PACKET ? { ok: false, size: bytes.length } : verdict };
}

const publishPacket = fc
  .tuple(utf8ish, anyPayload, fc.constantFrom<0 | 1 | 2>(0, 1, 2), fc.nat({ max: 600 }))
  .map(([topic, payload, qos, padding]) => {
    const bytes = wire.publish(topic, Buffer.concat([payload, Buffer.alloc(padding % 7 === 0 ? padding : 0)]), {
      qos,
      messageId: 7,
    });
    return withSize(bytes, referenceWellFormed(topic) ? ok : problem("malformed_utf8"));
  });

/** The oracle walks filters as the spec lists them: the first ill-formed one, or the first beyond the cap. */
function filtersVerdict(filters: readonly Buffer[], max: number): GuardVerdict {
  for (const [index, filter] of filters.entries()) {
    if (!referenceWellFormed(filter)) return problem("malformed_utf8");
    if (index + 1 > max) return problem("too_many_filters");
  }
  return ok;
}

const subscribePacket = fc
  .array(utf8ish, { maxLength: MAX_FILTERS + 3 })
  .map((filters) => withSize(wire.subscribe(1, filters, 1), filtersVerdict(filters, MAX_FILTERS)));

const unsubscribePacket = fc
  .array(utf8ish, { maxLength: MAX_FILTERS + 3 })
  .map((filters) => withSize(wire.unsubscribe(2, filters), filtersVerdict(filters, Infinity)));

const connectPacket = fc
  .record({
    clientId: utf8ish,
    will: fc.option(fc.record({ topic: utf8ish, message: anyPayload }), { nil: undefined }),
    username: fc.option(utf8ish, { nil: undefined }),
    clean: fc.boolean(),
  })
  .map((fields) => {
    const strings = [fields.clientId, fields.will?.topic, fields.username].filter((s) => s !== undefined);
    const verdict = strings.every((s) => referenceWellFormed(s)) ? ok : problem("malformed_utf8");
    return withSize(wire.connect(fields), verdict);
  });

/** Packets the inspector does not look into (their bodies may hold any bytes). */
const otherPacket = fc.oneof(
  fc.constant(Buffer.from([0xc0, 0x00])), // PINGREQ
  fc.nat({ max: 0xffff }).map((id) => wire.pubrel(id)),
  fc.nat({ max: 0xffff }).map((id) => Buffer.from([0x40, 0x02, id >> 8, id & 0xff])), // PUBACK
  fc.constant(wire.DISCONNECT),
);

const packet: fc.Arbitrary<Generated> = fc.oneof(
  { weight: 4, arbitrary: publishPacket },
  { weight: 2, arbitrary: subscribePacket },
  { weight: 1, arbitrary: unsubscribePacket },
  { weight: 1, arbitrary: connectPacket },
  { weight: 1, arbitrary: otherPacket.map((bytes) => ({ bytes, expected: ok })) },
);

/** Feeds chunks in order, stopping at the first refusal (the connection is closed there). */
function verdictOf(chunks: readonly Uint8Array[]): GuardVerdict {
  const guard = new PacketSizeGuard(MAX_PACKET, new MqttInspector(MAX_FILTERS));
  for (const chunk of chunks) {
    const verdict = guard.feed(chunk);
    if (!verdict.ok) return verdict;
  }
  return ok;
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

/** Every single-byte split too: the hardest case for a streaming parser. */
const bytewise = (bytes: Buffer) => [...bytes].map((b) => Uint8Array.of(b));

describe("MqttInspector behind PacketSizeGuard", () => {
  it("refuses exactly the first packet with an ill-formed string, too many filters or too many bytes, however the stream is cut", () => {
    fc.assert(
      fc.property(
        fc.array(packet, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (packets, cuts) => {
          const stream = Buffer.concat(packets.map((p) => p.bytes));
          const expected = packets.find((p) => !p.expected.ok)?.expected ?? ok;
          expect(verdictOf([stream])).toEqual(expected);
          expect(verdictOf(splitAt(stream, cuts))).toEqual(expected);
          expect(verdictOf(bytewise(stream))).toEqual(expected);
        },
      ),
      { numRuns: 3_000 },
    );
  });

  it("gives the same verdict on arbitrary bytes (any framing, any garbage) cut anywhere as on the whole", () => {
    const typeBytes = fc.constantFrom(0x10, 0x30, 0x32, 0x34, 0x82, 0xa2, 0xc0, 0x62);
    const garbage = fc
      .array(
        fc.oneof(
          fc.uint8Array({ maxLength: 30 }),
          typeBytes.map((t) => Uint8Array.of(t)),
        ),
        { maxLength: 12 },
      )
      .map((parts) => Buffer.concat(parts));
    fc.assert(
      fc.property(garbage, fc.array(fc.nat(), { maxLength: 12 }), (stream, cuts) => {
        const whole = verdictOf([stream]);
        expect(verdictOf(splitAt(stream, cuts))).toEqual(whole);
        expect(verdictOf(bytewise(stream))).toEqual(whole);
      }),
      { numRuns: 3_000 },
    );
  });

  it("closes on the examples of the issue and lets valid non-ASCII and a real U+FFFD through", () => {
    const bad = [Buffer.from([0xff, 0xfe]), Buffer.from([0xc0, 0xaf]), Buffer.from([0xed, 0xa0, 0x80])];
    for (const tail of bad) {
      const topic = Buffer.concat([Buffer.from("devices/dev-1/telemetry/"), tail]);
      expect(verdictOf([wire.publish(topic, "x")])).toEqual(problem("malformed_utf8"));
      expect(verdictOf([wire.subscribe(1, ["devices/dev-1/config", topic])])).toEqual(problem("malformed_utf8"));
      expect(verdictOf([wire.unsubscribe(1, [topic])])).toEqual(problem("malformed_utf8"));
      expect(verdictOf([wire.connect({ clientId: tail })])).toEqual(problem("malformed_utf8"));
      expect(verdictOf([wire.connect({ clientId: "dev-1", will: { topic, message: "bye" } })])).toEqual(
        problem("malformed_utf8"),
      );
      expect(verdictOf([wire.connect({ clientId: "dev-1", username: tail })])).toEqual(problem("malformed_utf8"));
    }
    expect(verdictOf([wire.publish("devices/dev-1/telemetry/température", Buffer.from([0xff, 0xfe]))])).toEqual(ok);
    expect(verdictOf([wire.publish(Buffer.from("devices/dev-1/telemetry/\uFFFD", "utf8"), "x")])).toEqual(ok);
    expect(verdictOf([wire.subscribe(1, ["a", "b", "c", "d"])])).toEqual(ok);
    expect(verdictOf([wire.subscribe(1, ["a", "b", "c", "d", "e"])])).toEqual(problem("too_many_filters"));
  });

  it("does not misread an MQTT 5 CONNECT (properties after the keep-alive): Aedes answers it with CONNACK 1", () => {
    // level 5, clean start, keep-alive 60, properties: Session Expiry Interval (0x11) = 0x0000FFFF,
    // then client id "dev-1". Read as 3.1.1, the property bytes would be taken for the client id.
    const body = Buffer.concat([
      wire.lengthPrefixed("MQTT"),
      Buffer.from([5, 0x02, 0x00, 0x3c]),
      Buffer.from([0x05, 0x11, 0x00, 0x00, 0xff, 0xff]),
      wire.lengthPrefixed("dev-1"),
    ]);
    expect(verdictOf([wire.frame(0x10, body)])).toEqual(ok);
    // Property bytes that happen to look like a short ill-formed string.
    const tricky = Buffer.concat([
      wire.lengthPrefixed("MQTT"),
      Buffer.from([5, 0x02, 0x00, 0x3c]),
      Buffer.from([0x00, 0x01, 0xff]),
    ]);
    expect(verdictOf([wire.frame(0x10, tricky)])).toEqual(ok);
  });
});
