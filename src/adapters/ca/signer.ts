import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { normalizeSerial } from "../../domain/identity.js";
import type { CertificateSigner, SignRequest, SignedCertificate } from "../../ports.js";
import { curveOf, hashForCurve, importSigningKey, readCertificate, readPrivateKeyPem, type PkiPaths } from "./key-store.js";
import { x509 } from "./x509.js";

const BACKDATE_MS = 5 * 60_000;
const ROLE_ATTRIBUTE = "OU";

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
    private readonly key: CryptoKey,
    private readonly authorityKeyId: x509.AuthorityKeyIdentifierExtension,
    private readonly urls: RevocationUrls,
    readonly issuingCaPem: string,
    readonly rootCaPem: string,
  ) {}

  static async load(paths: PkiPaths, urls: RevocationUrls): Promise<X509Signer> {
    const issuer = readCertificate(paths.issuingCert);
    const key = await importSigningKey(readPrivateKeyPem(paths.issuingKey), curveOf(issuer));
    const ski = issuer.getExtension(x509.SubjectKeyIdentifierExtension);
    if (!ski) throw new Error("issuing CA certificate has no subjectKeyIdentifier");
    const aki = new x509.AuthorityKeyIdentifierExtension(ski.keyId);
    return new X509Signer(issuer, key, aki, urls, issuer.toString("pem"), readFileSync(paths.rootCert, "utf8"));
  }

  get issuerCertificate(): x509.X509Certificate {
    return this.issuer;
  }

  async sign(request: SignRequest): Promise<SignedCertificate> {
    const notBefore = new Date(request.now - BACKDATE_MS);
    const notAfter = new Date(request.now + request.lifetimeMs);
    const publicKey = new x509.PublicKey(request.publicKeySpki);
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: [{ CN: [request.deviceId] }, { [ROLE_ATTRIBUTE]: [request.role] }],
      issuer: this.issuer.subjectName,
      notBefore,
      notAfter,
      publicKey,
      signingKey: this.key,
      signingAlgorithm: { name: "ECDSA", hash: hashForCurve(curveOf(this.issuer)) },
      extensions: await this.extensionsFor(publicKey),
    });
    return {
      serial: normalizeSerial(certificate.serialNumber),
      pem: certificate.toString("pem"),
      der: new Uint8Array(certificate.rawData),
      notBefore: notBefore.getTime(),
      notAfter: notAfter.getTime(),
    };
  }

  private async extensionsFor(publicKey: x509.PublicKey): Promise<x509.Extension[]> {
    return [
      new x509.BasicConstraintsExtension(false, undefined, true), // RFC 5280 §4.2.1.9
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true), // §4.2.1.3
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false), // §4.2.1.12
      await x509.SubjectKeyIdentifierExtension.create(publicKey), // §4.2.1.2
      this.authorityKeyId, // §4.2.1.1
      new x509.CRLDistributionPointsExtension([this.urls.crl]), // §4.2.1.13
      new x509.AuthorityInfoAccessExtension({ ocsp: [this.urls.ocsp] }), // §4.2.2.1
    ];
  }
}

export function certificateRoles(certificate: x509.X509Certificate): string[] {
  return certificate.subjectName.getField(ROLE_ATTRIBUTE);
}
