import { createPublicKey, verify, type KeyObject } from "node:crypto";
import type { CsrKey, DecodedCsr } from "../../domain/csr-policy.js";
import { FleetgateError } from "../../domain/errors.js";
import { elementsInside } from "../shared/der.js";
import { x509 } from "../shared/x509.js";

const BASIC_CONSTRAINTS_OID = "2.5.29.19";
/** OpenSSL's curve names → the names the key policy uses (FIPS 186-4 / WebCrypto). */
const CURVES: Readonly<Record<string, string>> = { prime256v1: "P-256", secp384r1: "P-384", secp521r1: "P-521" };
/** The signature algorithms node:crypto verifies directly, as @peculiar/x509 names them (WebCrypto). */
const NODE_VERIFIABLE = new Set(["ECDSA", "RSASSA-PKCS1-v1_5"]);

/** The parts of a PKCS#10 request used as bytes, exactly as they were signed (RFC 2986 §4). */
interface CsrBytes {
  readonly certificationRequestInfo: Uint8Array;
  readonly subjectPublicKeyInfo: Uint8Array<ArrayBuffer>;
}

function csrBytes(der: Uint8Array): CsrBytes {
  const certificationRequestInfo = elementsInside(der)[0];
  // CertificationRequestInfo ::= SEQUENCE { version, subject, subjectPKInfo, attributes [0] }
  const spki = certificationRequestInfo && elementsInside(certificationRequestInfo)[2];
  if (!certificationRequestInfo || !spki) throw new Error("not a CertificationRequest");
  return { certificationRequestInfo, subjectPublicKeyInfo: new Uint8Array(spki) };
}

function publicKeyOf(spki: Uint8Array): KeyObject | null {
  try {
    return createPublicKey({
      key: Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength),
      format: "der",
      type: "spki",
    });
  } catch {
    return null;
  }
}

function describeKey(key: KeyObject | null): CsrKey {
  if (key === null) return { type: "other", algorithm: "unrecognised" };
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === "ec")
    return { type: "EC", curve: CURVES[details.namedCurve ?? ""] ?? details.namedCurve ?? "unknown" };
  if (key.asymmetricKeyType?.startsWith("rsa") && details.modulusLength)
    return { type: "RSA", bits: details.modulusLength };
  return { type: "other", algorithm: key.asymmetricKeyType ?? "unknown" };
}

function requestsCa(csr: x509.Pkcs10CertificateRequest): boolean {
  return csr.extensions.some(
    (ext) => ext.type === BASIC_CONSTRAINTS_OID && ext instanceof x509.BasicConstraintsExtension && ext.ca,
  );
}

/**
 * RFC 2986 §4.2: the signature over certificationRequestInfo must verify with the CSR's own key
 * (proof of possession). ECDSA and PKCS#1 v1.5 go straight to node:crypto — measured with
 * `npm run bench:enroll`, csr.verify() spent about 1 ms per enrollment exporting and re-importing
 * the key through WebCrypto. Anything else (RSA-PSS) takes the library's path. An unsupported
 * algorithm or a malformed key is "not verified"; the key rule then explains the refusal.
 */
async function verifySelfSignature(
  csr: x509.Pkcs10CertificateRequest,
  bytes: CsrBytes,
  key: KeyObject | null,
): Promise<boolean> {
  try {
    const algorithm = csr.signatureAlgorithm as { name: string; hash?: { name: string } };
    if (!NODE_VERIFIABLE.has(algorithm.name) || !algorithm.hash) return await csr.verify();
    if (key === null) return false;
    const hash = algorithm.hash.name.replace("-", "").toLowerCase();
    return verify(hash, bytes.certificationRequestInfo, { key, dsaEncoding: "der" }, Buffer.from(csr.signature));
  } catch {
    return false;
  }
}

/** PKCS#10 (RFC 2986) DER → the facts the CSR policy judges. Never throws anything but malformed_csr. */
export async function decodeCsr(der: Uint8Array<ArrayBuffer>): Promise<DecodedCsr> {
  let csr: x509.Pkcs10CertificateRequest;
  let bytes: CsrBytes;
  let commonNames: string[];
  let extensionsCa: boolean;
  try {
    csr = new x509.Pkcs10CertificateRequest(der);
    bytes = csrBytes(der);
    commonNames = csr.subjectName.getField("CN");
    extensionsCa = requestsCa(csr);
  } catch (error) {
    throw new FleetgateError("malformed_csr", (error as Error).message, { cause: error });
  }
  // The key object is made once: its facts feed the key rule, and it verifies the signature.
  const key = publicKeyOf(bytes.subjectPublicKeyInfo);
  const signatureValid = await verifySelfSignature(csr, bytes, key);
  return {
    facts: { signatureValid, commonNames, key: describeKey(key), requestsCa: extensionsCa },
    publicKeySpki: bytes.subjectPublicKeyInfo,
  };
}
