import { DER_TAG, tlv } from "../../shared/der.js";

const INTEGER = 0x02;

/**
 * PKCS#11 CKM_ECDSA returns r ‖ s, each as wide as the curve's order (PKCS#11 2.40 curr. mech. §2.3.1);
 * X.509, CRLs and OCSP carry ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } (RFC 5480 §2.2 / RFC 3279
 * §2.2.3) in DER. Verifiers are strict about DER here (OpenSSL rejects a non-minimal INTEGER), so the
 * encoding must be minimal: see derPositiveInteger.
 */
export function ecdsaRawToDer(raw: Uint8Array, coordinateBytes: number): Uint8Array<ArrayBuffer> {
  if (raw.length !== 2 * coordinateBytes)
    throw new Error(
      `an ECDSA signature of ${2 * coordinateBytes} bytes was expected, the token returned ${raw.length}`,
    );
  const r = derPositiveInteger(raw.subarray(0, coordinateBytes));
  const s = derPositiveInteger(raw.subarray(coordinateBytes));
  return new Uint8Array(tlv(DER_TAG.sequence, r, s));
}

/**
 * X.690 §8.3: an INTEGER is two's complement in the fewest octets, so (1) leading 0x00 octets go,
 * except that (2) one 0x00 is put back when the first remaining octet has its high bit set (else the
 * value would read as negative), and (3) zero is the single octet 0x00.
 */
export function derPositiveInteger(unsigned: Uint8Array): Buffer {
  let start = 0;
  while (start < unsigned.length - 1 && unsigned[start] === 0) start++;
  const magnitude = unsigned.length === 0 ? Uint8Array.of(0) : unsigned.subarray(start);
  return magnitude[0]! >= 0x80 ? tlv(INTEGER, Uint8Array.of(0), magnitude) : tlv(INTEGER, magnitude);
}
