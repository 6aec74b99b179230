import { AsnConvert } from "@peculiar/asn1-schema";
import * as asnX509 from "@peculiar/asn1-x509";
import { decodeCsr } from "../src/adapters/ca/csr-decoder.js";
import { signatureAlgorithmDer } from "../src/adapters/ca/signature-algorithm.js";
import { DER_TAG, tlv } from "../src/adapters/shared/der.js";
import { derToPem, pemToDer } from "../src/adapters/shared/pem.js";
import { x509 } from "../src/adapters/shared/x509.js";
import type { IssuerKey } from "../src/ports.js";
import { caExtensions, certificatePem, issue, issuerOf, validity, YEAR_MS } from "./pki-certificates.js";

/** The default lifetime of an issuing CA made by rollover, as `init`'s (capped by the root's notAfter). */
export const ISSUING_LIFETIME_MS = 10 * YEAR_MS;

/**
 * RFC 2986 §4: a PKCS#10 request for a new issuing CA, signed through the IssuerKey port (so with a key
 * in the token as well as in a file): CertificationRequestInfo ::= SEQUENCE { version 0, subject,
 * subjectPKInfo, attributes [0] IMPLICIT SET OF Attribute (empty) }. What the CA certificate will say
 * (CA:TRUE, pathLen 0, key usages) is the root's decision at signing time, not a request attribute.
 */
export async function issuingCaCsr(subject: asnX509.Name, key: IssuerKey): Promise<string> {
  const info = tlv(
    DER_TAG.sequence,
    Uint8Array.of(0x02, 0x01, 0x00), // INTEGER 0
    new Uint8Array(AsnConvert.serialize(subject)),
    key.spki,
    Uint8Array.of(DER_TAG.context0Constructed, 0x00),
  );
  const signature = await key.sign(info);
  const der = tlv(
    DER_TAG.sequence,
    info,
    signatureAlgorithmDer(key),
    tlv(DER_TAG.bitString, Uint8Array.of(0), signature),
  );
  return derToPem(new Uint8Array(der), "CERTIFICATE REQUEST");
}

export class IssuingCsrError extends Error {
  override name = "IssuingCsrError";
}

export interface SignIssuingRequest {
  readonly csrPem: string;
  readonly rootCertPem: string;
  readonly rootKey: IssuerKey;
  readonly lifetimeMs?: number;
  readonly now?: number;
}

/**
 * `fleetgate ca sign-issuing`, on the machine that holds the root key: checks the request (a PKCS#10
 * whose self-signature verifies, an EC P-256 or P-384 key, a subject) and signs an issuing CA certificate
 * for it: CA:TRUE pathLen 0 (it signs only end-entity certificates), keyCertSign + cRLSign, SKI, AKI = the
 * root's, never valid beyond the root. Returns its PEM.
 */
export async function signIssuingCsr(request: SignIssuingRequest): Promise<string> {
  const csrDer = pemToDer(request.csrPem, ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"]);
  if (csrDer === null) throw new IssuingCsrError("the CSR file holds no PEM CERTIFICATE REQUEST");
  const decoded = await decodeCsr(csrDer).catch((error: unknown) => {
    throw new IssuingCsrError(`the CSR cannot be decoded: ${(error as Error).message}`);
  });
  if (!decoded.facts.signatureValid) throw new IssuingCsrError("the CSR's self-signature does not verify");
  const key = decoded.facts.key;
  if (key.type !== "EC" || (key.curve !== "P-256" && key.curve !== "P-384"))
    throw new IssuingCsrError("an issuing CA key must be ECDSA P-256 or P-384");
  const root = new x509.X509Certificate(request.rootCertPem);
  if (!Buffer.from(root.publicKey.rawData).equals(Buffer.from(request.rootKey.spki)))
    throw new IssuingCsrError("the root key does not belong to the root certificate");
  const now = request.now ?? Date.now();
  if (root.notAfter.getTime() <= now) throw new IssuingCsrError("the root certificate has expired");
  const subject = AsnConvert.parse(new x509.Pkcs10CertificateRequest(csrDer).subjectName.toArrayBuffer(), asnX509.Name);
  const issuer = issuerOf(root, request.rootKey);
  const period = validity(now, request.lifetimeMs ?? ISSUING_LIFETIME_MS, root.notAfter.getTime());
  const der = await issue({ name: subject, spki: decoded.publicKeySpki }, issuer, period, (spki) =>
    caExtensions(0, spki, issuer),
  );
  return certificatePem(der);
}
