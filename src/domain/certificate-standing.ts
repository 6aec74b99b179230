import type { CertificateStatus, DeviceStatus } from "./registry-facts.js";

/** What the registry knows about a presented certificate (the Registry port's CertificateState fits). */
export interface CertificateFactsOnRecord {
  readonly deviceId: string;
  readonly status: CertificateStatus;
  readonly deviceStatus: DeviceStatus;
}

export type Standing = "good" | "expired" | "not_active";

/**
 * May a certificate authenticate now? Asked on every MQTT connection and every EST re-enrollment,
 * resumed TLS session or not (resumption does not re-check validity dates): inside its validity
 * period, known to the registry, active (not superseded or revoked), issued to the device it names,
 * and that device not revoked.
 */
export function certificateStanding(
  presented: { readonly deviceId: string; readonly notBefore: number; readonly notAfter: number },
  onRecord: CertificateFactsOnRecord | undefined,
  now: number,
): Standing {
  if (!withinValidity(presented, now)) return "expired";
  return activeOnRecord(onRecord, presented.deviceId) ? "good" : "not_active";
}

/** RFC 5280 §4.1.2.5: notBefore and notAfter are both inclusive. */
export function withinValidity(
  presented: { readonly notBefore: number; readonly notAfter: number },
  now: number,
): boolean {
  return now >= presented.notBefore && now <= presented.notAfter;
}

/** The registry half of the standing: known, active, issued to this device, and the device active. */
export function activeOnRecord(onRecord: CertificateFactsOnRecord | undefined, deviceId: string): boolean {
  return (
    onRecord !== undefined &&
    onRecord.deviceId === deviceId &&
    onRecord.status === "active" &&
    onRecord.deviceStatus === "active"
  );
}

/** A certificate as relying parties are told about it (CRL entries, OCSP answers). */
export interface PublishedCertificate {
  readonly status: CertificateStatus;
  readonly notAfter: number;
}

/**
 * RFC 6960 §2.2 / RFC 5280 §5.3.1: a certificate that stopped being active is revoked for every relying
 * party, with its reason: the operator's for a revocation, `superseded` (4) for one a renewal replaced.
 * fleetgate's own listeners refuse both by their registry status; telling others the same means a
 * renewed device's old key can no longer authenticate to anyone who checks.
 */
export function listedAsRevoked(certificate: Pick<PublishedCertificate, "status">): boolean {
  return certificate.status !== "active";
}

/**
 * Whether a CRL signed at `at` lists the certificate (RFC 5280 §5.1.2.6, §3.3). A superseded one until it
 * expires: it was never compromised, and a fleet of short-lived certificates renews all the time, so
 * keeping them longer would grow every CRL by every renewal. A revoked one also for `revokedGraceMs` after
 * it expired (the CRL validity: at least one regularly scheduled CRL issued after its expiry lists it).
 */
export function listedOnCrl(certificate: PublishedCertificate, at: number, revokedGraceMs: number): boolean {
  if (!listedAsRevoked(certificate)) return false;
  const grace = certificate.status === "revoked" ? revokedGraceMs : 0;
  return at <= certificate.notAfter + grace;
}

/** The earliest notAfter any certificate listedOnCrl(…, at, revokedGraceMs) can have. */
export function crlListingFrom(at: number, revokedGraceMs: number): number {
  return at - revokedGraceMs;
}

/**
 * Superseded certificates are deleted from the registry `retentionMs` after they expired. They left every
 * CRL at expiry (listedOnCrl), so no CRL still to be signed needs them; revoked ones are never pruned.
 */
export function prunable(certificate: PublishedCertificate, now: number, retentionMs: number): boolean {
  return certificate.status === "superseded" && certificate.notAfter < now - retentionMs;
}
