import type { DecodedCsr, KeySpec } from "../domain/csr-policy.js";
import { FleetgateError } from "../domain/errors.js";
import type { CertificateProfile } from "../domain/profile.js";
import type { CertificateRecord, CertificateSigner, Clock, EventBus, Registry, RegistryTx } from "../ports.js";

/** What the enrollment use cases need; built once in main.ts. */
export interface EnrollmentDeps {
  readonly registry: Registry;
  readonly signer: CertificateSigner;
  readonly clock: Clock;
  readonly profiles: ReadonlyMap<string, CertificateProfile>;
  readonly allowedKeys: readonly KeySpec[];
  /** PKCS#10 DER → facts; throws FleetgateError("malformed_csr") on anything undecodable. */
  readonly decodeCsr: (der: Uint8Array<ArrayBuffer>) => Promise<DecodedCsr>;
  /** Live views hear about enrollments and renewals (optional: `init` has no bus). */
  readonly bus?: Pick<EventBus, "publish">;
}

export interface IssuedCertificate {
  readonly deviceId: string;
  readonly serial: string;
  readonly certificatePem: string;
  readonly certificateDer: Uint8Array<ArrayBuffer>;
  readonly chainPem: readonly string[];
  readonly notAfter: number;
}

/** A certificate just signed, before it is recorded. */
export interface NewCertificate {
  readonly serial: string;
  readonly deviceId: string;
  readonly pem: string;
  readonly notBefore: number;
  readonly notAfter: number;
  /** The issuing CA that signed it. */
  readonly issuer: string;
}

export function profileFor(deps: EnrollmentDeps, name: string): CertificateProfile {
  const profile = deps.profiles.get(name);
  if (!profile) throw new FleetgateError("internal_error", `profile ${name} is no longer configured`);
  return profile;
}

/**
 * Signs, then hands the certificate to `record` (one unit of work). Nothing is returned to the caller
 * unless the record commits, so a refused unit of work issues nothing.
 */
export async function signAndRecord(
  deps: EnrollmentDeps,
  deviceId: string,
  profile: CertificateProfile,
  publicKeySpki: Uint8Array<ArrayBuffer>,
  record: (certificate: NewCertificate, now: number) => Promise<void>,
): Promise<IssuedCertificate> {
  const now = deps.clock.now();
  const { lifetimeMs, role } = profile;
  const signed = await deps.signer.sign({ deviceId, role, lifetimeMs, publicKeySpki, now });
  const { serial, pem, notBefore, notAfter, issuer } = signed;
  await record({ serial, deviceId, pem, notBefore, notAfter, issuer }, now);
  // The CA that signed it, not whichever is active by now: a rollover may land while this one is signed.
  const chainPem = [signed.issuerPem];
  return { deviceId, serial, certificatePem: pem, certificateDer: signed.der, chainPem, notAfter };
}

/** The new certificate becomes the device's active one. */
export function insertActiveCertificate(tx: RegistryTx, certificate: NewCertificate, now: number): Promise<void> {
  return tx.insertCertificate({
    ...certificate,
    status: "active",
    issuedAt: now,
    revokedAt: null,
    revocationReason: null,
  });
}

/** RFC 5280 §5.3.1 "superseded": replaced by a renewal or a re-enrollment, from `now` on. */
export function supersede(tx: RegistryTx, certificate: CertificateRecord, now: number): Promise<void> {
  return tx.updateCertificate(certificate.serial, {
    status: "superseded",
    revokedAt: now,
    revocationReason: "superseded",
  });
}
