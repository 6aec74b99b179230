// Ports: signing.

export type SignatureHash = "SHA-256" | "SHA-384" | "SHA-512";

/**
 * A CA's private key, wherever it lives (a 0600 file, a PKCS#11 token). Everything a CA signs — device
 * certificates, CRLs, OCSP responses, the CA certificates `init` makes — is signed through this.
 */
export interface IssuerKey {
  readonly algorithm: { readonly name: "ECDSA"; readonly namedCurve: string; readonly hash: SignatureHash };
  /** DER SubjectPublicKeyInfo of the key pair. */
  readonly spki: Uint8Array<ArrayBuffer>;
  /** Signs the DER of a to-be-signed structure; returns the DER ECDSA-Sig-Value that goes in its BIT STRING. */
  sign(data: Uint8Array): Promise<Uint8Array<ArrayBuffer>>;
}

/**
 * Signs statements other than certificates and CRLs (audit checkpoints) with the issuing CA's key,
 * through its IssuerKey (a file key or an HSM alike), and verifies them against the issuing CA
 * certificate. A detached signature over the given bytes.
 */
export interface Notary {
  /** SHA-256 of the issuing CA certificate's DER, lowercase hex. */
  readonly certificateSha256: string;
  /** The signature algorithm, e.g. `ecdsa-with-SHA256` (RFC 5758 §3.2 names). */
  readonly algorithm: string;
  /** The DER ECDSA-Sig-Value over `statement`. */
  sign(statement: Uint8Array): Promise<Uint8Array<ArrayBuffer>>;
  /** Whether `signature` (DER ECDSA-Sig-Value) verifies over `statement` with the issuing CA's public key. */
  verify(statement: Uint8Array, signature: Uint8Array): Promise<boolean>;
}

/** Every trusted issuing CA as a notary: after a CA rollover, checkpoints of the previous CA still verify. */
export interface Notaries {
  /** The active issuing CA's notary: it signs new checkpoints. */
  current(): Notary;
  /** The trusted issuing CA whose certificate DER has this SHA-256 (lowercase hex), if any. */
  find(certificateSha256: string): Notary | undefined;
}

export interface SignRequest {
  readonly deviceId: string;
  readonly role: string;
  readonly lifetimeMs: number;
  /** SubjectPublicKeyInfo DER of the requester's key. */
  readonly publicKeySpki: Uint8Array<ArrayBuffer>;
  readonly now: number;
}

export interface SignedCertificate {
  readonly serial: string;
  readonly pem: string;
  readonly der: Uint8Array<ArrayBuffer>;
  readonly notBefore: number;
  readonly notAfter: number;
  /** The id of the issuing CA that signed it, and its certificate (the chain a device needs). */
  readonly issuer: string;
  readonly issuerPem: string;
}

export interface CertificateSigner {
  /** Signs with the active issuing CA (after a rollover, the new one). */
  sign(request: SignRequest): Promise<SignedCertificate>;
  /** PEM of the active issuing CA and of the root. */
  readonly issuingCaPem: string;
  readonly rootCaPem: string;
  /** Every CA certificate a device must know now: the issuing CAs still trusted (active first), then the root. */
  readonly caCertificatesPem: readonly string[];
}
