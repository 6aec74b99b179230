import type { ChainedEntry } from "./domain/audit-chain.js";
import type { TokenRecord } from "./domain/bootstrap-token.js";
import type { CaState } from "./domain/issuing-cas.js";
import type { CertificateStatus, DeviceStatus, OperatorStatus } from "./domain/registry-facts.js";

export type { CertificateStatus, DeviceStatus, OperatorStatus };

/**
 * The interfaces the use cases talk to. Adapters implement them; nothing in src/app imports an adapter.
 * A port with more than one adapter has one contract test suite that every adapter runs.
 */

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

// ── Registry facts ────────────────────────────────────────────────────────────────────────────

export interface DeviceRecord {
  readonly id: string;
  readonly role: string;
  readonly profile: string;
  readonly status: DeviceStatus;
  readonly createdAt: number;
  readonly revokedAt: number | null;
  readonly revocationReason: string | null;
  /** When a session of the device last opened or closed (flushed in batches, so minutes stale at most). */
  readonly lastSeenAt: number | null;
}

/** A device as listings show it: with the latest notAfter of its active certificates. */
export interface DeviceSummary extends DeviceRecord {
  readonly certificateNotAfter: number | null;
}

export interface CertificateRecord {
  readonly serial: string;
  readonly deviceId: string;
  readonly pem: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly status: CertificateStatus;
  readonly issuedAt: number;
  /** When it stopped being active: revoked, or superseded by a renewal. */
  readonly revokedAt: number | null;
  /** RFC 5280 reason name; "superseded" for a renewed certificate. */
  readonly revocationReason: string | null;
  /** The id of the issuing CA that signed it (`ca-1`, `ca-2`… in pki/issuing-cas.json). */
  readonly issuer: string;
}

/** What admission and re-enrollment judge about a presented certificate (src/domain/certificate-standing.ts). */
export interface CertificateState {
  readonly serial: string;
  readonly deviceId: string;
  readonly status: CertificateStatus;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly deviceStatus: DeviceStatus;
}

export interface OperatorRecord {
  readonly serial: string;
  readonly name: string;
  readonly pem: string;
  readonly status: OperatorStatus;
  readonly createdAt: number;
  readonly notAfter: number;
  readonly revokedAt: number | null;
  /** The id of the issuing CA that signed the operator's certificate. */
  readonly issuer: string;
}

/** A certificate that stopped being active (revoked, or superseded by a renewal), as a CRL needs it. */
export interface RevokedCertificate {
  readonly serial: string;
  readonly status: Exclude<CertificateStatus, "active">;
  readonly revokedAt: number;
  readonly reason: string;
  readonly notAfter: number;
}

/** Which inactive certificates of one issuer a CRL needs: those expiring at or after `notAfterFrom`. */
export interface RevokedQuery {
  readonly issuer: string;
  readonly notAfterFrom: number;
}

/** What an issuing CA still vouches for (whether it may be retired; `fleetgate ca list`). */
export interface IssuerUsage {
  /** Certificates it issued that have not expired yet, whatever their status (revoked ones need its CRL). */
  readonly validCertificates: number;
  /** Active operators whose certificate it issued and that have not expired. */
  readonly activeOperators: number;
  /** The latest notAfter of anything it issued (certificates and active operators), null if nothing. */
  readonly lastNotAfter: number | null;
}

/** One audit log entry as stored: hash-chained (src/domain/audit-chain.ts). */
export type AuditEntry = ChainedEntry;
export type AuditInput = Pick<AuditEntry, "actor" | "action" | "subject" | "details">;
/** The last entry's sequence number and hash (seq 0 and the genesis hash for an empty log). */
export interface AuditHead {
  readonly seq: number;
  readonly hash: string;
}

/** The current signed CRL of one issuer (RFC 5280 §5.2.3: one number sequence per issuer). */
export interface CrlRecord {
  readonly issuer: string;
  readonly number: number;
  readonly thisUpdate: number;
  readonly der: Uint8Array<ArrayBuffer>;
}

/** Cursor pagination: `next` is the cursor of the following page, null on the last one. */
export interface Page<T> {
  readonly items: readonly T[];
  readonly next: string | null;
}

export interface DeviceQuery {
  /** Devices whose id sorts after this cursor (ids are the cursor; binary order, as SQL COLLATE "C"). */
  readonly after?: string;
  /** At least 1. */
  readonly limit: number;
  readonly status?: DeviceStatus;
  /** Ids starting with this (the console's search box). */
  readonly prefix?: string;
  /** Only devices with an active certificate whose notAfter is before this instant. */
  readonly expiringBefore?: number;
  /** Only these ids (e.g. the devices online now). */
  readonly ids?: readonly string[];
}

// ── Registry port ─────────────────────────────────────────────────────────────────────────────

/**
 * The registry stores facts and offers atomic units of work; it decides nothing. Every business rule
 * (may this token enroll this device, is this the last operator…) is written once, in src/domain or
 * src/app, and runs inside `transact` against the rows it read there.
 */
export interface Registry {
  /**
   * Runs `work` as one atomic, durable unit: everything it wrote commits together (and is on disk when
   * the promise resolves) or nothing does. Rows read through `tx` stay locked against other units of
   * work until it ends. An adapter may run `work` again after a conflict, so `work` must only call `tx`
   * and code whose effects stay inside it (pure code, or signing a CRL it then saves). A throw rolls
   * back and is rethrown. A `tx` used after its unit ended throws.
   */
  transact<T>(work: (tx: RegistryTx) => Promise<T>): Promise<T>;

  findTokenByHash(hash: string): Promise<TokenRecord | undefined>;
  listTokens(): Promise<TokenRecord[]>;
  getDevice(id: string): Promise<DeviceRecord | undefined>;
  listDevices(query: DeviceQuery): Promise<Page<DeviceSummary>>;
  countDevices(): Promise<{ readonly total: number; readonly revoked: number }>;
  getCertificate(serial: string): Promise<CertificateRecord | undefined>;
  listCertificates(deviceId: string): Promise<CertificateRecord[]>;
  /** The admission question, asked on every connection: one read of certificate and device. */
  certificateState(serial: string): Promise<CertificateState | undefined>;
  /** Active certificates whose notAfter is before `before` (expiry metrics). */
  countActiveCertificatesExpiringBefore(before: number): Promise<number>;
  /** The issuer's revoked or superseded certificates with a recorded time (the CRL decides which it lists). */
  listRevokedCertificates(query: RevokedQuery): Promise<RevokedCertificate[]>;
  issuerUsage(issuer: string, now: number): Promise<IssuerUsage>;
  currentCrl(issuer: string): Promise<CrlRecord | undefined>;
  listOperators(): Promise<OperatorRecord[]>;
  getOperator(serial: string): Promise<OperatorRecord | undefined>;
  /** Entries with seq > afterSeq in order, at most `limit`; only those about `subject` when given. */
  listAudit(options: {
    readonly afterSeq: number;
    readonly limit: number;
    readonly subject?: string;
  }): Promise<AuditEntry[]>;
  auditHead(): Promise<AuditHead>;
  /** Commits a tiny write (health row) so /healthz can tell a registry that no longer takes writes. */
  probeWrite(at: number): Promise<void>;
  close(): Promise<void>;
}

/** What a unit of work may read (rows it reads are locked until it ends) and write. */
export interface RegistryTx {
  tokenByHash(hash: string): Promise<TokenRecord | undefined>;
  tokenById(id: string): Promise<TokenRecord | undefined>;
  device(id: string): Promise<DeviceRecord | undefined>;
  certificate(serial: string): Promise<CertificateRecord | undefined>;
  certificatesOf(deviceId: string): Promise<CertificateRecord[]>;
  activeOperators(): Promise<OperatorRecord[]>;
  /** Locks the audit head: appends from concurrent units of work are serialized by it. */
  auditHead(): Promise<AuditHead>;
  /** Locks the issuer's CRL state: one CRL number at a time, cluster-wide. */
  crlState(issuer: string): Promise<{ readonly number: number; readonly thisUpdate: number } | undefined>;
  /** Not locked (that would block revocations while a CRL is signed): the CRL state lock orders signers. */
  revokedCertificates(query: RevokedQuery): Promise<RevokedCertificate[]>;
  /** Superseded certificates whose notAfter is before `before`, in serial order, at most `limit` (locked). */
  supersededExpiredBefore(before: number, limit: number): Promise<CertificateRecord[]>;
  /** Certificates of `issuer` not revoked and not expired at `at` (locked, their devices first). */
  unrevokedValidCertificatesOf(issuer: string, at: number): Promise<CertificateRecord[]>;

  insertToken(token: TokenRecord): Promise<void>;
  updateToken(id: string, changes: Partial<Pick<TokenRecord, "usesLeft" | "revokedAt">>): Promise<void>;
  insertDevice(device: DeviceRecord): Promise<void>;
  updateDevice(
    id: string,
    changes: Partial<Pick<DeviceRecord, "role" | "profile" | "status" | "revokedAt" | "revocationReason">>,
  ): Promise<void>;
  insertCertificate(certificate: CertificateRecord): Promise<void>;
  updateCertificate(
    serial: string,
    changes: Partial<Pick<CertificateRecord, "status" | "revokedAt" | "revocationReason">>,
  ): Promise<void>;
  /** Removes superseded certificates (a certificate of any other status is never deleted). */
  deleteSupersededCertificates(serials: readonly string[]): Promise<number>;
  insertOperator(operator: OperatorRecord): Promise<void>;
  updateOperator(serial: string, changes: Pick<OperatorRecord, "status" | "revokedAt">): Promise<void>;
  /** Appends the next entry (its seq must be head.seq + 1, its prevHash head.hash) and moves the head. */
  appendAudit(entry: AuditEntry): Promise<void>;
  saveCrl(crl: CrlRecord): Promise<void>;
  /** Records that sessions of these devices opened or closed at `at`. */
  touchDevices(ids: readonly string[], at: number): Promise<void>;
}

// ── Signing ───────────────────────────────────────────────────────────────────────────────────

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

// ── The PKI a server runs with ────────────────────────────────────────────────────────────────

/** One issuing CA as operators see it (`fleetgate ca list`). */
export interface IssuingCaInfo {
  readonly id: string;
  readonly state: CaState;
  readonly subject: string;
  readonly serial: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly key: "file" | "pkcs11";
}

/** The listeners' own TLS certificate. */
export interface ServerCertificateInfo {
  readonly serial: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly names: readonly string[];
  /** The id of the issuing CA that signed it, null if none of the trusted ones did. */
  readonly issuer: string | null;
}

export interface RootCertificateInfo {
  readonly subject: string;
  readonly serial: string;
  readonly notBefore: number;
  readonly notAfter: number;
}

/** What a reload changed: the CA set trusted now, and whether the server certificate was replaced. */
export interface PkiReload {
  readonly activeCa: string;
  readonly trusted: readonly string[];
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly serverCertificateChanged: boolean;
  readonly serverCertificate: ServerCertificateInfo;
}

/**
 * The issuing CAs and server certificate of a running server, as the files in pki/ say (the CLI writes
 * them: `ca activate`, `server-cert renew`). A reload reads them again and swaps them in for new
 * connections and new certificates; connections already open keep what they have.
 */
export interface PkiControl {
  /** Every CA in pki/issuing-cas.json, retired ones included, the active one first. */
  issuingCas(): readonly IssuingCaInfo[];
  serverCertificate(): ServerCertificateInfo;
  rootCertificate(): RootCertificateInfo;
  /** Throws FleetgateError("pki_invalid") and keeps the current PKI if the files cannot be loaded. */
  reload(): Promise<PkiReload>;
  /** Marks the CA retired on disk (its key file is deleted), then reloads: nothing trusts it any more. */
  retire(id: string): Promise<PkiReload>;
}

// ── Live sessions and events ──────────────────────────────────────────────────────────────────

export interface LiveSession {
  readonly deviceId: string;
  readonly serial: string;
  readonly address: string | null;
  readonly connectedAt: number;
  /** The node holding the connection (cluster mode), or this node's id. */
  readonly node: string;
}

/** Who is online, where and since when (cluster-wide in cluster mode). */
export interface SessionDirectory {
  sessionsOf(deviceId: string): Promise<LiveSession[]>;
  /** Ids of devices online now, sorted, after `after`, at most `limit`. */
  onlineDeviceIds(options: { readonly after?: string; readonly limit: number }): Promise<string[]>;
  countOnline(): Promise<number>;
}

/** Closes this node's live sessions of a device and discards its persistent state; returns how many closed. */
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

/** What the nodes did about one revocation: sessions actually closed, per node. */
export interface RevocationOutcome {
  readonly sessionsClosed: number;
  readonly byNode: Readonly<Record<string, number>>;
}

/** A handler's share of a revocation: the sessions it closed (a kicker), or nothing (the CRL publisher). */
export type RevocationHandler = (event: RevocationEvent) => Promise<number | void> | number | void;

/** What an operator's live view shows; lossy by nature (a missed one is only a stale screen). */
export type FleetEvent =
  | { readonly type: "session.opened"; readonly deviceId: string; readonly node: string; readonly at: number }
  | { readonly type: "session.closed"; readonly deviceId: string; readonly node: string; readonly at: number }
  | { readonly type: "device.enrolled"; readonly deviceId: string; readonly serial: string; readonly at: number }
  | { readonly type: "device.renewed"; readonly deviceId: string; readonly serial: string; readonly at: number }
  | { readonly type: "device.revoked"; readonly deviceId: string; readonly reason: string; readonly at: number }
  | { readonly type: "device.reset"; readonly deviceId: string; readonly at: number };

/**
 * Fans revocations out to every node's handlers and brings their results back to the caller; carries
 * fleet events for live views. In-process by default; cluster mode carries both over Redis, and each
 * node also catches up on revocations from the registry (a revocation must never be lost).
 */
export interface EventBus {
  publishRevocation(event: RevocationEvent): Promise<RevocationOutcome>;
  onRevocation(handler: RevocationHandler): void;
  publish(event: FleetEvent): void;
  /** Returns the function that unsubscribes. */
  subscribe(handler: (event: FleetEvent) => void): () => void;
}
