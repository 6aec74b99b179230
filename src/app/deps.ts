import type { DecodedCsr, KeySpec } from "../domain/csr-policy.js";
import { FleetgateError } from "../domain/errors.js";
import type { CertificateProfile } from "../domain/profile.js";
import type { CertificateSigner, Clock, NewCertificate, Registry } from "../ports.js";

/** What the enrollment use cases need; built once in main.ts. */
export interface EnrollmentDeps {
  readonly registry: Registry;
  readonly signer: CertificateSigner;
  readonly clock: Clock;
  readonly profiles: ReadonlyMap<string, CertificateProfile>;
  readonly allowedKeys: readonly KeySpec[];
  /** PKCS#10 DER → facts; throws FleetgateError("malformed_csr") on anything undecodable. */
  readonly decodeCsr: (der: Uint8Array<ArrayBuffer>) => Promise<DecodedCsr>;
}

export interface IssuedCertificate {
  readonly deviceId: string;
  readonly serial: string;
  readonly certificatePem: string;
  readonly certificateDer: Uint8Array<ArrayBuffer>;
  readonly chainPem: readonly string[];
  readonly notAfter: number;
}

export function profileFor(deps: EnrollmentDeps, name: string): CertificateProfile {
  const profile = deps.profiles.get(name);
  if (!profile) throw new FleetgateError("internal_error", `profile ${name} is no longer configured`);
  return profile;
}

/**
 * Signs, then hands the certificate to `record` (one registry transaction). Nothing is returned
 * to the caller unless the record commits, so a refused transaction issues nothing.
 */
export async function signAndRecord(
  deps: EnrollmentDeps,
  deviceId: string,
  profile: CertificateProfile,
  publicKeySpki: Uint8Array<ArrayBuffer>,
  record: (certificate: NewCertificate, now: number) => Promise<void>,
): Promise<IssuedCertificate> {
  const now = deps.clock.now();
  const signed = await deps.signer.sign({
    deviceId,
    role: profile.role,
    lifetimeMs: profile.lifetimeMs,
    publicKeySpki,
    now,
  });
  const { serial, pem, notBefore, notAfter } = signed;
  await record({ serial, deviceId, role: profile.role, profile: profile.name, pem, notBefore, notAfter }, now);
  return {
    deviceId,
    serial,
    certificatePem: pem,
    certificateDer: signed.der,
    chainPem: [deps.signer.issuingCaPem],
    notAfter,
  };
}
