import type { CsrKey, DecodedCsr } from "../../domain/csr-policy.js";
import { FleetgateError } from "../../domain/errors.js";
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
  // An unsupported algorithm makes verify() throw; that is "not verified", and the key rule explains it.
  const signatureValid = await csr.verify().catch(() => false);
  return {
    facts: { signatureValid, commonNames, key: describeKey(csr), requestsCa: extensionsCa },
    publicKeySpki: new Uint8Array(csr.publicKey.rawData),
  };
}
