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

/** A certificate that stopped being active, as the CRL and OCSP see it. */
export interface InactiveCertificate {
  readonly status: Exclude<CertificateStatus, "active">;
}

/**
 * RFC 5280 §5.1.2.6 / RFC 6960 §2.2: which certificates relying parties are told are revoked. A
 * revoked certificate, always. A superseded one (renewed) is still trusted by other relying parties
 * until it expires; fleetgate's broker refuses it by its registry status.
 */
export function listedAsRevoked(certificate: InactiveCertificate): boolean {
  return certificate.status === "revoked";
}
