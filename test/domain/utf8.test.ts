import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isWellFormedUtf8 } from "../../src/domain/utf8.js";
import { nearlyValidUtf8, referenceWellFormed, UTF8_EDGE_BYTES } from "../helpers/utf8-reference.js";

/*
 * [MQTT-1.5.3-1] The broker closes a connection whose topic, filter, client id, will topic or user name is
 * not well-formed UTF-8. Before the hardening, mqtt-packet decoded such bytes leniently to U+FFFD and
 * the broker let the result through; this suite pins the validator the inspector relies on to two
 * independent oracles: WHATWG's fatal decoder and a transcription of Unicode 15 Table 3-7.
 */

function whatwgWellFormed(bytes: Uint8Array): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

const anyBytes = fc.uint8Array({ maxLength: 24 });
const edgeBytes = fc.array(fc.constantFrom(...UTF8_EDGE_BYTES, 0x41), { maxLength: 8 }).map((a) => Uint8Array.from(a));

describe("isWellFormedUtf8", () => {
  it("agrees with the reference on the cases the issue names", () => {
    const cases: [string, number[], boolean][] = [
      ["FF FE (never in UTF-8)", [0xff, 0xfe], false],
      ["overlong '/' C0 AF", [0xc0, 0xaf], false],
      ["overlong NUL C0 80 (modified UTF-8)", [0xc0, 0x80], false],
      ["overlong 3-byte E0 80 AF", [0xe0, 0x80, 0xaf], false],
      ["surrogate U+D800 as ED A0 80 (CESU-8)", [0xed, 0xa0, 0x80], false],
      ["surrogate U+DFFF as ED BF BF", [0xed, 0xbf, 0xbf], false],
      ["above U+10FFFF: F4 90 80 80", [0xf4, 0x90, 0x80, 0x80], false],
      ["truncated: E2 82", [0xe2, 0x82], false],
      ["stray continuation 80", [0x61, 0x80], false],
      ["a real U+FFFD: EF BF BD", [0xef, 0xbf, 0xbd], true],
      ["U+D7FF: ED 9F BF", [0xed, 0x9f, 0xbf], true],
      ["U+10FFFF: F4 8F BF BF", [0xf4, 0x8f, 0xbf, 0xbf], true],
      ["BOM EF BB BF", [0xef, 0xbb, 0xbf], true],
      ["NUL (well-formed; U+0000 is refused by the topic rules)", [0x00], true],
      ["empty", [], true],
    ];
    for (const [name, raw, expected] of cases) {
      const bytes = Uint8Array.from(raw);
      expect({ name, verdict: isWellFormedUtf8(bytes) }).toEqual({ name, verdict: expected });
      expect({ name, reference: referenceWellFormed(bytes) }).toEqual({ name, reference: expected });
    }
    expect(isWellFormedUtf8(Buffer.from("devices/dev-1/telemetry/température", "utf8"))).toBe(true);
  });

  it("agrees with WHATWG's fatal decoder and with Table 3-7 on random, edge and nearly valid bytes", () => {
    fc.assert(
      fc.property(fc.oneof(anyBytes, edgeBytes, nearlyValidUtf8()), (bytes) => {
        const verdict = isWellFormedUtf8(bytes);
        expect(verdict).toBe(whatwgWellFormed(bytes));
        expect(verdict).toBe(referenceWellFormed(bytes));
      }),
      { numRuns: 20_000 },
    );
  });

  it("accepts the UTF-8 of every scalar value and refuses every surrogate code point encoded as if it were one", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x10ffff }), (cp) => {
        const isSurrogate = cp >= 0xd800 && cp <= 0xdfff;
        // The generic 3-byte pattern, which is exactly what CESU-8 emits for a surrogate.
        const encoded =
          cp < 0x80
            ? [cp]
            : cp < 0x800
              ? [0xc0 | (cp >> 6), 0x80 | (cp & 0x3f)]
              : cp < 0x10000
                ? [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)]
                : [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)];
        expect(isWellFormedUtf8(Uint8Array.from(encoded))).toBe(!isSurrogate);
      }),
      { numRuns: 20_000 },
    );
  });

  it("refuses the overlong form of every code point that has a shorter one", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), (cp) => {
        // One byte longer than needed.
        const overlong =
          cp < 0x80
            ? [0xc0 | (cp >> 6), 0x80 | (cp & 0x3f)]
            : cp < 0x800
              ? [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)]
              : [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)];
        expect(isWellFormedUtf8(Uint8Array.from(overlong))).toBe(false);
      }),
      { numRuns: 5_000 },
    );
  });
});
