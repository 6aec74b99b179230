import { DER_TAG, tlv } from "../../shared/der.js";

/**
 * The curves a CA key in a token may be on. `params` is the DER of ECParameters choosing the named
 * curve (RFC 5480 §2.1.1), which is both what CKA_EC_PARAMS holds and what an SPKI's algorithm
 * parameters hold, so it is copied and compared as bytes and never needs an ASN.1 parser.
 */
const CURVES = {
  "P-256": { params: "06082a8648ce3d030107", coordinateBytes: 32 },
  "P-384": { params: "06052b81040022", coordinateBytes: 48 },
  "P-521": { params: "06052b81040023", coordinateBytes: 66 },
} as const;

export type EcCurve = keyof typeof CURVES;

/** RFC 5480 §2.1.1 id-ecPublicKey (1.2.840.10045.2.1). */
const EC_PUBLIC_KEY_OID = Buffer.from("06072a8648ce3d0201", "hex");

const OCTET_STRING = 0x04;
const UNCOMPRESSED = 0x04;

export function ecParameters(curve: EcCurve): Buffer {
  return Buffer.from(CURVES[curve].params, "hex");
}

/** The curve CKA_EC_PARAMS names, or null for any other curve or for explicit parameters. */
export function curveOf(ecParams: Uint8Array): EcCurve | null {
  const hex = Buffer.from(ecParams).toString("hex");
  const found = Object.entries(CURVES).find(([, curve]) => curve.params === hex);
  return found === undefined ? null : (found[0] as EcCurve);
}

/** Bytes of r and of s in a raw PKCS#11 ECDSA signature (and of x and of y in a point). */
export function coordinateBytes(curve: EcCurve): number {
  return CURVES[curve].coordinateBytes;
}

/**
 * The uncompressed point (04 ‖ x ‖ y) in CKA_EC_POINT, which PKCS#11 defines as the DER OCTET STRING
 * wrapping it; some older modules return the bare point. The two cannot be confused: the wrapped one
 * is 2 or 3 bytes longer. Null for a compressed or malformed point.
 */
export function uncompressedPoint(ecPoint: Uint8Array, curve: EcCurve): Uint8Array | null {
  const length = 1 + 2 * coordinateBytes(curve);
  if (ecPoint.length === length && ecPoint[0] === UNCOMPRESSED) return ecPoint;
  if (ecPoint[0] !== OCTET_STRING) return null;
  const header = length < 0x80 ? Uint8Array.of(OCTET_STRING, length) : Uint8Array.of(OCTET_STRING, 0x81, length);
  const wrapped = ecPoint.length === header.length + length && header.every((byte, i) => ecPoint[i] === byte);
  const point = ecPoint.subarray(header.length);
  return wrapped && point[0] === UNCOMPRESSED ? point : null;
}

/** The DER SubjectPublicKeyInfo (RFC 5480 §2) of an uncompressed point on `curve`. */
export function ecSpki(curve: EcCurve, point: Uint8Array): Uint8Array<ArrayBuffer> {
  const algorithm = tlv(DER_TAG.sequence, EC_PUBLIC_KEY_OID, ecParameters(curve));
  return new Uint8Array(tlv(DER_TAG.sequence, algorithm, tlv(DER_TAG.bitString, Uint8Array.of(0), point)));
}
