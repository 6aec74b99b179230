import type { ChainedEntry } from "../domain/audit-chain.js";
import type { TokenRecord } from "../domain/bootstrap-token.js";
import type { CertificateStatus, DeviceStatus, OperatorStatus } from "../domain/registry-facts.js";

// Ports: registry facts.

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
export interface AuditQuery {
  readonly afterSeq: number;
  readonly limit: number;
  readonly subject?: string;
  readonly action?: string;
}

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

// Copying a registry (`fleetgate registry copy`, src/app/copy-registry.ts): every stored fact, by kind.

/** An issuer's CRL state as stored: its last number and the CRL signed with it (null in rows from before v4). */
export interface CrlStateRecord {
  readonly issuer: string;
  readonly number: number;
  readonly thisUpdate: number;
  readonly der: Uint8Array<ArrayBuffer> | null;
}

/**
 * Every kind of fact a registry stores, as its record, each paged in the order of its key: devices by
 * id, certificates by serial, tokens by id, operators by serial, audit entries by seq, CRL state by
 * issuer. The audit head is the last audit entry's seq and hash; the health row is not a fact.
 */
export interface StoredFacts {
  readonly devices: DeviceRecord;
  readonly certificates: CertificateRecord;
  readonly tokens: TokenRecord;
  readonly operators: OperatorRecord;
  readonly audit: AuditEntry;
  readonly crls: CrlStateRecord;
}
export type FactKind = keyof StoredFacts;
export type FactCounts = { readonly [K in FactKind]: number };

/** One consistent read of a whole registry: every call sees the same committed state. */
export interface RegistrySnapshot {
  counts(): Promise<FactCounts>;
  auditHead(): Promise<AuditHead>;
  /** At most `limit` facts of `kind` whose key sorts after the cursor `after` (null: from the start). */
  page<K extends FactKind>(kind: K, after: string | null, limit: number): Promise<Page<StoredFacts[K]>>;
}

/** Writes facts as they are, inside one unit of work that nothing else writes during. */
export interface RegistryImport {
  counts(): Promise<FactCounts>;
  auditHead(): Promise<AuditHead>;
  /**
   * Stores the records unchanged (a certificate's device must be stored first). Audit entries must come
   * in seq order and the first must follow the head's seq; the head moves to the last one.
   */
  insert<K extends FactKind>(kind: K, records: readonly StoredFacts[K][]): Promise<void>;
}

// The registry port: facts above, read and written here.

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
  /**
   * Entries with seq > afterSeq in order, at most `limit`; only those about `subject`, or only those of
   * `action`, when given (one filter at a time). Its `device.revoked` entries are every node's catch-up
   * feed: written in the same unit of work as the revocation itself.
   */
  listAudit(options: AuditQuery): Promise<AuditEntry[]>;
  auditHead(): Promise<AuditHead>;
  /** Runs `read` on one consistent snapshot (a read transaction of its own); writers are not blocked. */
  snapshot<T>(read: (snapshot: RegistrySnapshot) => Promise<T>): Promise<T>;
  /**
   * Runs `work` as one atomic, durable unit that bulk-writes facts: all of it commits or none does, and
   * other writers wait until it ended. Never run again by the adapter (unlike `transact`).
   */
  bulkImport<T>(work: (target: RegistryImport) => Promise<T>): Promise<T>;
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
