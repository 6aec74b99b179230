import { createPrivateKey, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { normalizeSerial } from "../../domain/identity.js";
import type { CertificateSigner, SignRequest, SignedCertificate } from "../../ports.js";
import { DeviceCertificateTemplate, type SignatureHash } from "./device-certificate.js";
import { curveOf, hashForCurve, readCertificate, readPrivateKeyPem, type PkiPaths } from "./key-store.js";
import { derToPem } from "./pem.js";
import { x509 } from "./x509.js";

const BACKDATE_MS = 5 * 60_000;
/** The subject attribute that carries the role the CA chose (never the CSR), and its X.520 type. */
export const ROLE_ATTRIBUTE = "OU";
const OID = { commonName: "2.5.4.3", role: "2.5.4.11" } as const;

export interface RevocationUrls {
  readonly crl: string;
  readonly ocsp: string;
}

/** RFC 5280 §4.1.2.2: positive, at most 20 octets; 128 random bits with the top bit cleared. */
export function randomSerial(): string {
  for (;;) {
    const bytes = randomBytes(16);
    bytes[0]! &= 0x7f;
    // A leading zero octet would not be minimal DER; draw again rather than bias the value.
    if (bytes[0] !== 0) return bytes.toString("hex");
  }
}

/** Signs device certificates with the issuing CA. Every extension is the CA's choice. */
export class X509Signer implements CertificateSigner {
  private constructor(
    private readonly issuer: x509.X509Certificate,
    private readonly template: DeviceCertificateTemplate,
    readonly issuingCaPem: string,
    readonly rootCaPem: string,
  ) {}

  static async load(paths: PkiPaths, urls: RevocationUrls): Promise<X509Signer> {
    const issuer = readCertificate(paths.issuingCert);
    const ski = issuer.getExtension(x509.SubjectKeyIdentifierExtension);
    if (!ski) throw new Error("issuing CA certificate has no subjectKeyIdentifier");
    const fixedExtensions = [
      new x509.BasicConstraintsExtension(false, undefined, true), // RFC 5280 §4.2.1.9
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true), // §4.2.1.3
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false), // §4.2.1.12
      new x509.AuthorityKeyIdentifierExtension(ski.keyId), // §4.2.1.1
      new x509.CRLDistributionPointsExtension([urls.crl]), // §4.2.1.13
      new x509.AuthorityInfoAccessExtension({ ocsp: [urls.ocsp] }), // §4.2.2.1
    ];
    const key = createPrivateKey(readPrivateKeyPem(paths.issuingKey));
    const template = new DeviceCertificateTemplate(
      issuer,
      fixedExtensions,
      key,
      hashForCurve(curveOf(issuer)) as SignatureHash,
    );
    return new X509Signer(issuer, template, issuer.toString("pem"), readFileSync(paths.rootCert, "utf8"));
  }

  get issuerCertificate(): x509.X509Certificate {
    return this.issuer;
  }

  async sign(request: SignRequest): Promise<SignedCertificate> {
    const notBefore = new Date(request.now - BACKDATE_MS);
    const notAfter = new Date(request.now + request.lifetimeMs);
    const serial = randomSerial();
    const der = new Uint8Array(
      this.template.build({
        serialHex: serial,
        subject: [
          [OID.commonName, request.deviceId],
          [OID.role, request.role],
        ],
        notBefore,
        notAfter,
        publicKeySpki: request.publicKeySpki,
      }),
    );
    return {
      serial: normalizeSerial(serial),
      pem: derToPem(der, "CERTIFICATE"),
      der,
      notBefore: notBefore.getTime(),
      notAfter: notAfter.getTime(),
    };
  }
}

export function certificateRoles(certificate: x509.X509Certificate): string[] {
  return certificate.subjectName.getField(ROLE_ATTRIBUTE);
}
