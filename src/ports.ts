import type { ChainedEntry } from "./domain/audit-chain.js";
import type { TokenRecord } from "./domain/bootstrap-token.js";

/** The interfaces the use cases talk to. Adapters implement them; nothing in src/app imports an adapter. */

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export type DeviceStatus = "active" | "revoked";
export type CertificateStatus = "active" | "superseded" | "revoked";

export interface DeviceRecord {
  readonly id: string;
  readonly role: string;
  readonly profile: string;
  readonly status: DeviceStatus;
  readonly createdAt: number;
  readonly revokedAt: number | null;
  readonly revocationReason: string | null;
  readonly lastSeenAt: number | null;
}

export interface CertificateRecord {
  readonly serial: string;
  readonly deviceId: string;
  readonly pem: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly status: CertificateStatus;
  readonly issuedAt: number;
  readonly revokedAt: number | null;
  readonly revocationReason: string | null;
}

export interface OperatorRecord {
  readonly serial: string;
  readonly name: string;
  readonly pem: string;
  readonly status: "active" | "revoked";
  readonly createdAt: number;
  readonly notAfter: number;
  readonly revokedAt: number | null;
}

export interface RevokedCertificate {
  readonly serial: string;
  readonly revokedAt: number;
  readonly reason: string;
}

/** One audit log entry as stored: hash-chained (src/domain/audit-chain.ts). */
export type AuditEntry = ChainedEntry;

export type AuditInput = Pick<AuditEntry, "actor" | "action" | "subject" | "details">;

export interface NewCertificate {
  readonly serial: string;
  readonly deviceId: string;
  readonly role: string;
  readonly profile: string;
  readonly pem: string;
  readonly notBefore: number;
  readonly notAfter: number;
}

/**
 * The registry: devices, certificates, bootstrap tokens and the audit log. Every method that
 * changes more than one row is one transaction. Async so a PostgreSQL adapter fits the same port.
 */
export interface Registry {
  createToken(token: TokenRecord, audit: AuditInput): Promise<void>;
  findTokenByHash(hash: string): Promise<TokenRecord | undefined>;
  listTokens(): Promise<TokenRecord[]>;
  revokeToken(id: string, at: number, audit: AuditInput): Promise<boolean>;

  /**
   * One transaction: spend one use of the token (only if still usable at `at`), refuse if the
   * device is revoked, record device + certificate + audit entry. Throws a FleetgateError and
   * records nothing when the token or device no longer qualifies.
   */
  recordEnrollment(tokenHash: string, certificate: NewCertificate, at: number, audit: AuditInput): Promise<void>;
  /** One transaction: the old certificate becomes superseded, the new one active. */
  recordRenewal(oldSerial: string, certificate: NewCertificate, at: number, audit: AuditInput): Promise<void>;

  getDevice(id: string): Promise<DeviceRecord | undefined>;
  listDevices(): Promise<DeviceRecord[]>;
  getCertificate(serial: string): Promise<CertificateRecord | undefined>;
  listCertificates(deviceId: string): Promise<CertificateRecord[]>;
  /** Active certificates whose notAfter is before `before` (expiry metrics, `device list --expiring`). */
  countActiveCertificatesExpiringBefore(before: number): Promise<number>;
  /** The admission question asked on every connection: active certificate of an active device. */
  isCertificateActive(serial: string, deviceId: string): Promise<boolean>;

  /**
   * One transaction: the device and every certificate of it not yet revoked become revoked
   * (RFC 5280 reason name). Returns the serials revoked now; empty if the device was already revoked.
   */
  revokeDevice(id: string, reason: string, at: number, audit: AuditInput): Promise<string[]>;
  /** A revoked device becomes active again (its certificates stay revoked) so it may enroll anew. */
  resetDevice(id: string, at: number, audit: AuditInput): Promise<boolean>;
  /** Every revoked certificate, for the CRL. */
  listRevokedCertificates(): Promise<RevokedCertificate[]>;
  /** Next CRL number for an issuer (RFC 5280 §5.2.3: monotonically increasing). */
  nextCrlNumber(issuer: string, at: number): Promise<number>;

  addOperator(operator: OperatorRecord, audit: AuditInput): Promise<void>;
  listOperators(): Promise<OperatorRecord[]>;
  isOperatorActive(serial: string): Promise<boolean>;
  /** Revokes every active certificate of the named operator; returns how many. */
  revokeOperator(name: string, at: number, audit: AuditInput): Promise<number>;

  appendAudit(entry: AuditInput, at: number): Promise<void>;
  listAudit(options?: { limit?: number; afterSeq?: number }): Promise<AuditEntry[]>;
  close(): void;
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
}

export interface CertificateSigner {
  sign(request: SignRequest): Promise<SignedCertificate>;
  /** PEM of the issuing CA (the chain a device needs) and of the root. */
  readonly issuingCaPem: string;
  readonly rootCaPem: string;
}

/** Closes every live session of a device and discards its persistent session state. */
export interface SessionKicker {
  kick(deviceId: string, reason: string): Promise<number>;
}

/** A device was revoked (durably, before this is published). */
export interface RevocationEvent {
  readonly deviceId: string;
  readonly reason: string;
  readonly serials: readonly string[];
  readonly at: number;
}

/**
 * Fans revocations out to everything that must act on them: the session kicker, the CRL
 * publisher. In-process by default; a multi-node mode would carry the same events over Redis.
 */
export interface EventBus {
  publishRevocation(event: RevocationEvent): Promise<void>;
  onRevocation(handler: (event: RevocationEvent) => Promise<unknown> | unknown): void;
}
