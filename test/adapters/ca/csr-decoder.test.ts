import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeCsr } from "../../../src/adapters/ca/csr-decoder.js";
import { newKeyAndCsr } from "../../../src/adapters/shared/local-credential.js";
import { isFleetgateError } from "../../../src/domain/errors.js";

/** Whatever the bytes, decodeCsr either decodes them or refuses with malformed_csr: nothing else escapes. */
async function outcome(der: Uint8Array<ArrayBuffer>): Promise<"decoded" | "malformed_csr"> {
  try {
    await decodeCsr(der);
    return "decoded";
  } catch (error) {
    if (isFleetgateError(error) && error.code === "malformed_csr") return "malformed_csr";
    throw error;
  }
}

describe("decodeCsr on hostile bytes (property)", () => {
  it("a valid WebCrypto CSR decodes: P-256 key, its CN, signature valid, SPKI bytes as sent", async () => {
    const { csrDer } = await newKeyAndCsr("dev-1");
    const decoded = await decodeCsr(csrDer);
    expect(decoded.facts).toEqual({
      signatureValid: true,
      commonNames: ["dev-1"],
      key: { type: "EC", curve: "P-256" },
      requestsCa: false,
    });
    expect(Buffer.from(csrDer).includes(Buffer.from(decoded.publicKeySpki))).toBe(true);
  });

  it("random bytes, truncations and single-byte corruptions never escape as anything but malformed_csr", async () => {
    const { csrDer } = await newKeyAndCsr("dev-1");
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 600 }),
          fc.nat({ max: csrDer.length - 1 }).map((cut) => csrDer.slice(0, cut)),
          fc.tuple(fc.nat({ max: csrDer.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([at, xor]) => {
            const copy = csrDer.slice();
            copy[at]! ^= xor;
            return copy;
          }),
        ),
        async (bytes) => {
          await expect(outcome(new Uint8Array(bytes))).resolves.toMatch(/^(decoded|malformed_csr)$/);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a corrupted signature decodes but is not valid (proof of possession fails)", async () => {
    const { csrDer } = await newKeyAndCsr("dev-1");
    const copy = csrDer.slice();
    copy[copy.length - 3]! ^= 0x01; // inside the ECDSA signature's last INTEGER
    const decoded = await decodeCsr(copy);
    expect(decoded.facts.signatureValid).toBe(false);
  });
});
