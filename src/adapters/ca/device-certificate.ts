import type * as asnX509 from "@peculiar/asn1-x509";
import type { IssuerKey } from "../../ports.js";
import { x509 } from "../shared/x509.js";
import {
  asnExtensions,
  nameOf,
  parseSpki,
  signCertificate,
  subjectKeyIdentifier,
  subjectOf,
} from "./certificate-builder.js";

export interface DeviceCertificateFields {
  /** Positive, minimal DER INTEGER content octets as hex (see randomSerial). */
  readonly serialHex: string;
  /** Subject attributes in order, each one RDN: [[OID, value], …] (e.g. CN then OU). */
  readonly subject: readonly (readonly [string, string])[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly publicKeySpki: Uint8Array<ArrayBuffer>;
}

/**
 * Device certificates from parts prepared once: the issuer name and every extension that does not
 * depend on the request are parsed when the CA is loaded, not per certificate. Measured with
 * `npm run bench:enroll`: X509CertificateGenerator re-parsed all of these and the certificate it
 * made, about 1.5 ms of server CPU per enrollment.
 */
export class DeviceCertificateTemplate {
  private readonly issuerName: asnX509.Name;
  private readonly fixedExtensions: asnX509.Extension[];

  constructor(
    issuer: x509.X509Certificate,
    fixedExtensions: readonly x509.Extension[],
    private readonly key: IssuerKey,
  ) {
    this.issuerName = subjectOf(issuer);
    this.fixedExtensions = asnExtensions(fixedExtensions);
  }

  /** DER of the signed certificate (RFC 5280 §4.1: tbsCertificate, signatureAlgorithm, signatureValue). */
  build(fields: DeviceCertificateFields): Promise<Buffer> {
    const subjectPublicKeyInfo = parseSpki(fields.publicKeySpki);
    return signCertificate(
      {
        serialHex: fields.serialHex,
        issuer: this.issuerName,
        subject: nameOf(fields.subject),
        notBefore: fields.notBefore,
        notAfter: fields.notAfter,
        subjectPublicKeyInfo,
        extensions: [...this.fixedExtensions, subjectKeyIdentifier(subjectPublicKeyInfo)],
      },
      this.key,
    );
  }
}
