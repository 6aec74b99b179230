import { randomBytes } from "node:crypto";
import { normalizeSerial } from "../../domain/identity.js";
import type { CertificateSigner, SignRequest, SignedCertificate } from "../../ports.js";
import { derToPem } from "../shared/pem.js";
import { SUBJECT_OID } from "../shared/subject.js";
import { x509 } from "../shared/x509.js";
import { DeviceCertificateTemplate } from "./device-certificate.js";
import type { IssuingCa } from "./issuing-ca.js";

const BACKDATE_MS = 5 * 60_000;

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

/** Signs device (and operator) certificates with one issuing CA. Every extension is the CA's choice. */
export class X509Signer implements CertificateSigner {
  readonly caCertificatesPem: readonly string[];

  private constructor(
    private readonly template: DeviceCertificateTemplate,
    /** The CA's id (`ca-1`…), recorded with every certificate it signs. */
    readonly issuer: string,
    readonly issuingCaPem: string,
    readonly rootCaPem: string,
  ) {
    this.caCertificatesPem = [issuingCaPem, rootCaPem];
  }

  /** `urls.crl` is this CA's own CRL (each issuing CA has one), `urls.ocsp` the shared responder. */
  static create(ca: IssuingCa, identity: { id: string; rootPem: string }, urls: RevocationUrls): X509Signer {
    const fixedExtensions = [
      new x509.BasicConstraintsExtension(false, undefined, true), // RFC 5280 §4.2.1.9
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true), // §4.2.1.3
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false), // §4.2.1.12
      new x509.AuthorityKeyIdentifierExtension(Buffer.from(ca.keyId).toString("hex")), // §4.2.1.1
      new x509.CRLDistributionPointsExtension([urls.crl]), // §4.2.1.13
      new x509.AuthorityInfoAccessExtension({ ocsp: [urls.ocsp] }), // §4.2.2.1
    ];
    const template = new DeviceCertificateTemplate(ca.certificate, fixedExtensions, ca.key);
    return new X509Signer(template, identity.id, ca.pem, identity.rootPem);
  }

  async sign(request: SignRequest): Promise<SignedCertificate> {
    const notBefore = new Date(request.now - BACKDATE_MS);
    const notAfter = new Date(request.now + request.lifetimeMs);
    const serial = randomSerial();
    const subject = [
      [SUBJECT_OID.commonName, request.deviceId],
      [SUBJECT_OID.role, request.role],
    ] as const;
    const der = new Uint8Array(
      await this.template.build({
        serialHex: serial,
        subject,
        notBefore,
        notAfter,
        publicKeySpki: request.publicKeySpki,
      }),
    );
    const pem = derToPem(der, "CERTIFICATE");
    const validity = { notBefore: notBefore.getTime(), notAfter: notAfter.getTime() };
    return {
      serial: normalizeSerial(serial),
      pem,
      der,
      ...validity,
      issuer: this.issuer,
      issuerPem: this.issuingCaPem,
    };
  }
}

/**
 * The signer the use cases hold across issuing-CA rollovers: each call goes to the signer of the CA
 * active at that moment (a reload swaps it), and what the CA set trusts now is read fresh every time.
 */
export class ActiveCaSigner implements CertificateSigner {
  constructor(
    private readonly current: () => { readonly active: CertificateSigner; readonly trustedPems: readonly string[] },
  ) {}

  sign(request: SignRequest): Promise<SignedCertificate> {
    return this.current().active.sign(request);
  }
  get issuingCaPem(): string {
    return this.current().active.issuingCaPem;
  }
  get rootCaPem(): string {
    return this.current().active.rootCaPem;
  }
  get caCertificatesPem(): readonly string[] {
    return [...this.current().trustedPems, this.rootCaPem];
  }
}
