import { generateKeyPairSync, sign, verify } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { derPositiveInteger, ecdsaRawToDer } from "../../../../src/adapters/ca/pkcs11/ecdsa-signature.js";
import { coordinateBytes, ecSpki, uncompressedPoint } from "../../../../src/adapters/ca/pkcs11/ec-public-key.js";

/**
 * PKCS#11 gives r ‖ s; certificates need DER. Two oracles: node:crypto (OpenSSL) verifying the converted
 * signature with dsaEncoding "der" (OpenSSL re-encodes and compares, so a non-minimal INTEGER fails),
 * and an independent encoder from BigInt for arbitrary r and s, including the rare leading-zero cases.
 */
const CURVES = ["P-256", "P-384", "P-521"] as const;
const HASH = { "P-256": "sha256", "P-384": "sha384", "P-521": "sha512" } as const;
const SEED = 20_240_611;

function bigintOf(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString("hex")}`);
}

/** X.690 minimal two's complement of a non-negative value, written without looking at the implementation. */
function expectedInteger(value: bigint): string {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  if (parseInt(hex.slice(0, 1), 16) >= 8) hex = `00${hex}`;
  return `02${(hex.length / 2).toString(16).padStart(2, "0")}${hex}`;
}

function expectedSignature(r: Uint8Array, s: Uint8Array): string {
  const body = expectedInteger(bigintOf(r)) + expectedInteger(bigintOf(s));
  const length = body.length / 2;
  const header = length < 0x80 ? length.toString(16).padStart(2, "0") : `81${length.toString(16).padStart(2, "0")}`;
  return `30${header}${body}`;
}

/** n bytes with the interesting shapes made likely: leading zero bytes, a high bit right after them. */
function coordinate(n: number): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(fc.nat({ max: n }), fc.boolean(), fc.uint8Array({ minLength: n, maxLength: n }))
    .map(([zeros, highBit, bytes]) => {
      const out = Uint8Array.from(bytes);
      out.fill(0, 0, zeros);
      if (zeros < n) out[zeros] = highBit ? out[zeros]! | 0x80 : out[zeros]! & 0x7f;
      return out;
    });
}

describe("ecdsaRawToDer", () => {
  for (const curve of CURVES) {
    const n = coordinateBytes(curve);

    it(`encodes any r and s of ${curve} as the minimal DER`, () => {
      fc.assert(
        fc.property(coordinate(n), coordinate(n), (r, s) => {
          const der = ecdsaRawToDer(Uint8Array.from([...r, ...s]), n);
          expect(Buffer.from(der).toString("hex")).toBe(expectedSignature(r, s));
        }),
        { seed: SEED, numRuns: 500 },
      );
    });

    it(`turns node's raw ${curve} signatures into DER that node verifies`, () => {
      const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: curve });
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
          const raw = sign(HASH[curve], data, { key: privateKey, dsaEncoding: "ieee-p1363" });
          const der = ecdsaRawToDer(raw, n);
          expect(verify(HASH[curve], data, { key: publicKey, dsaEncoding: "der" }, der)).toBe(true);
        }),
        { seed: SEED, numRuns: 300 },
      );
    });
  }

  it("keeps the edge cases of X.690 §8.3 right", () => {
    const hex = (bytes: number[]) => derPositiveInteger(Uint8Array.from(bytes)).toString("hex");
    expect(hex([0, 0, 0, 0])).toBe("020100");
    expect(hex([0, 0, 0, 1])).toBe("020101");
    expect(hex([0, 0, 0x7f, 0xff])).toBe("02027fff");
    expect(hex([0, 0, 0x80, 0x00])).toBe("0203008000");
    expect(hex([0x80, 0, 0, 0])).toBe("02050080000000");
    expect(hex([0x01, 0, 0, 0])).toBe("020401000000");
  });

  it("refuses a signature of the wrong length", () => {
    expect(() => ecdsaRawToDer(new Uint8Array(63), 32)).toThrow(/64 bytes was expected/);
  });
});

describe("uncompressedPoint and ecSpki", () => {
  for (const curve of CURVES) {
    it(`read CKA_EC_POINT of ${curve} wrapped in an OCTET STRING or bare, into node's own SPKI`, () => {
      const { publicKey } = generateKeyPairSync("ec", { namedCurve: curve });
      const spki = publicKey.export({ type: "spki", format: "der" });
      const jwk = publicKey.export({ format: "jwk" });
      const point = Buffer.concat([Buffer.of(4), Buffer.from(jwk.x!, "base64url"), Buffer.from(jwk.y!, "base64url")]);
      const length = point.length < 0x80 ? [point.length] : [0x81, point.length];
      const wrapped = Buffer.concat([Buffer.of(0x04, ...length), point]);
      expect(Buffer.from(ecSpki(curve, uncompressedPoint(wrapped, curve)!))).toEqual(spki);
      expect(Buffer.from(ecSpki(curve, uncompressedPoint(point, curve)!))).toEqual(spki);
      expect(uncompressedPoint(Buffer.concat([Buffer.of(0x04, 0x21, 0x02), point.subarray(1, 33)]), curve)).toBeNull();
    });
  }
});
