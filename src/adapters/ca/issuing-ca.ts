import { readFileSync } from "node:fs";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import type { IssuerKey } from "../../ports.js";
import type { PkiPaths } from "../shared/key-files.js";
import { x509 } from "../shared/x509.js";
import { FileIssuerKey } from "./file-issuer-key.js";

/**
 * The issuing CA as everything that signs needs it: its certificate (DER, and parsed by @peculiar/x509
 * and by pkijs, which share the same bytes) and its key behind the IssuerKey port.
 */
export interface IssuingCa {
  readonly key: IssuerKey;
  readonly der: Uint8Array<ArrayBuffer>;
  readonly pem: string;
  readonly certificate: x509.X509Certificate;
  readonly pkijsCertificate: pkijs.Certificate;
  /** Its subjectKeyIdentifier (RFC 5280 §4.2.1.2): the AKI of everything it signs. */
  readonly keyId: Uint8Array<ArrayBuffer>;
}

export function readCertificate(path: string): x509.X509Certificate {
  return new x509.X509Certificate(readFileSync(path, "utf8"));
}

/**
 * Loads the issuing CA certificate and pairs it with its key (the 0600 key file unless another key is
 * given, e.g. one in an HSM). A key that does not belong to the certificate stops start-up here rather
 * than signing certificates no one can verify.
 */
export function loadIssuingCa(paths: Pick<PkiPaths, "issuingCert" | "issuingKey">, key?: IssuerKey): IssuingCa {
  return issuingCaOf(
    readCertificate(paths.issuingCert),
    key ?? FileIssuerKey.load(paths.issuingKey),
    paths.issuingCert,
  );
}

/** An issuing CA certificate (as read from `source`, for the error) paired with its key. */
export function issuingCaOf(certificate: x509.X509Certificate, issuerKey: IssuerKey, source: string): IssuingCa {
  const der = new Uint8Array(certificate.rawData);
  if (!Buffer.from(certificate.publicKey.rawData).equals(Buffer.from(issuerKey.spki))) {
    throw new Error(`the issuing CA key does not match the public key of ${source}`);
  }
  const pkijsCertificate = pkijs.Certificate.fromBER(der);
  return {
    key: issuerKey,
    der,
    pem: certificate.toString("pem"),
    certificate,
    pkijsCertificate,
    keyId: subjectKeyId(pkijsCertificate),
  };
}

function subjectKeyId(certificate: pkijs.Certificate): Uint8Array<ArrayBuffer> {
  const extension = certificate.extensions?.find((e) => e.extnID === "2.5.29.14");
  if (!extension) throw new Error("issuing CA certificate has no subjectKeyIdentifier");
  const parsed = asn1js.fromBER(extension.extnValue.valueBlock.valueHexView);
  if (parsed.offset === -1 || !(parsed.result instanceof asn1js.OctetString))
    throw new Error("malformed subjectKeyIdentifier");
  return new Uint8Array(parsed.result.valueBlock.valueHexView);
}
