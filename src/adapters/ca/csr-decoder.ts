import { createPublicKey, verify } from "node:crypto";
import type { CsrKey, DecodedCsr } from "../../domain/csr-policy.js";
import { FleetgateError } from "../../domain/errors.js";
import { firstInnerElement } from "./der.js";
import { x509 } from "./x509.js";

const BASIC_CONSTRAINTS_OID = "2.5.29.19";

function describeKey(csr: x509.Pkcs10CertificateRequest): CsrKey {
  try {
    const algorithm = csr.publicKey.algorithm as { name: string; namedCurve?: string; modulusLength?: number };
    if (algorithm.name === "ECDSA" && algorithm.namedCurve) return { type: "EC", curve: algorithm.namedCurve };
    if (algorithm.name.startsWith("RSA") && algorithm.modulusLength) return { type: "RSA", bits: algorithm.modulusLength };
    return { type: "other", algorithm: algorithm.name };
  } catch {
    return { type: "other", algorithm: "unrecognised" };
  }
}

function requestsCa(csr: x509.Pkcs10CertificateRequest): boolean {
  return csr.extensions.some((ext) => ext.type === BASIC_CONSTRAINTS_OID && ext instanceof x509.BasicConstraintsExtension && ext.ca);
}

/** The signature algorithms node:crypto verifies directly, as @peculiar/x509 names them (WebCrypto). */
const NODE_VERIFIABLE = new Set(["ECDSA", "RSASSA-PKCS1-v1_5"]);

/**
 * RFC 2986 §4.2: the signature over certificationRequestInfo must verify with the CSR's own key
 * (proof of possession). ECDSA and PKCS#1 v1.5 go straight to node:crypto — measured with
 * `npm run bench:enroll`, csr.verify() spent about 1 ms per enrollment exporting and re-importing
 * the key through WebCrypto. Anything else (RSA-PSS) takes the library's path. An unsupported
 * algorithm or a malformed key is "not verified"; the key rule then explains the refusal.
 */
async function verifySelfSignature(csr: x509.Pkcs10CertificateRequest, der: Uint8Array): Promise<boolean> {
  try {
    const algorithm = csr.signatureAlgorithm as { name: string; hash?: { name: string } };
    if (!NODE_VERIFIABLE.has(algorithm.name) || !algorithm.hash) return await csr.verify();
    const key = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: "der", type: "spki" });
    const hash = algorithm.hash.name.replace("-", "").toLowerCase();
    return verify(hash, firstInnerElement(der), { key, dsaEncoding: "der" }, Buffer.from(csr.signature));
  } catch {
    return false;
  }
}

/** PKCS#10 (RFC 2986) DER → the facts the CSR policy judges. Never throws anything but malformed_csr. */
export async function decodeCsr(der: Uint8Array<ArrayBuffer>): Promise<DecodedCsr> {
  let csr: x509.Pkcs10CertificateRequest;
  let commonNames: string[];
  let extensionsCa: boolean;
  try {
    csr = new x509.Pkcs10CertificateRequest(der);
    commonNames = csr.subjectName.getField("CN");
    extensionsCa = requestsCa(csr);
  } catch (error) {
    throw new FleetgateError("malformed_csr", (error as Error).message, { cause: error });
  }
  const signatureValid = await verifySelfSignature(csr, der);
  return {
    facts: { signatureValid, commonNames, key: describeKey(csr), requestsCa: extensionsCa },
    publicKeySpki: new Uint8Array(csr.publicKey.rawData),
  };
}
