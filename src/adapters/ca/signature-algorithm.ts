import { AsnConvert } from "@peculiar/asn1-schema";
import * as asnX509 from "@peculiar/asn1-x509";
import type { IssuerKey, SignatureHash } from "../../ports.js";

/** RFC 5758 §3.2: ECDSA signature algorithms; their AlgorithmIdentifier has no parameters. */
const ECDSA_WITH: Readonly<Record<SignatureHash, string>> = {
  "SHA-256": "1.2.840.10045.4.3.2",
  "SHA-384": "1.2.840.10045.4.3.3",
  "SHA-512": "1.2.840.10045.4.3.4",
};

/** The hash a CA key of this curve signs with (the strength of the curve, RFC 5480 §4). */
export function hashForCurve(curve: string): SignatureHash {
  if (curve === "P-256") return "SHA-256";
  if (curve === "P-384") return "SHA-384";
  if (curve === "P-521") return "SHA-512";
  throw new Error(`unsupported CA curve ${curve}`);
}

export function signatureAlgorithmOid(key: Pick<IssuerKey, "algorithm">): string {
  return ECDSA_WITH[key.algorithm.hash];
}

export function signatureAlgorithmIdentifier(key: Pick<IssuerKey, "algorithm">): asnX509.AlgorithmIdentifier {
  return new asnX509.AlgorithmIdentifier({ algorithm: signatureAlgorithmOid(key) });
}

export function signatureAlgorithmDer(key: Pick<IssuerKey, "algorithm">): Uint8Array<ArrayBuffer> {
  return new Uint8Array(AsnConvert.serialize(signatureAlgorithmIdentifier(key)));
}
