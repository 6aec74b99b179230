import { assertTokenUsable, type TokenRecord } from "../../domain/bootstrap-token.js";
import { chainHash, GENESIS_HASH } from "../../domain/audit-chain.js";
import { FleetgateError } from "../../domain/errors.js";
import type {
  AuditEntry,
  AuditInput,
  CertificateRecord,
  DeviceRecord,
  NewCertificate,
  OperatorRecord,
  Registry,
  RevokedCertificate,
} from "../../ports.js";
import { openDatabase, type Db, type Statement } from "./db.js";
import { GroupCommit } from "./group-commit.js";

type Row = Record<string, unknown>;

/** camelCase record field → snake_case column. */
const column = (field: string): string => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** A row → record mapper; `fields` must name every field of T (checked by the compiler). */
function fromRow<T>(fields: { readonly [K in keyof T]-?: true }): (r: Row) => T {
  const names = Object.keys(fields);
  return (r) => Object.fromEntries(names.map((name) => [name, r[column(name)]])) as T;
}

const toToken = fromRow<TokenRecord>({
  id: true,
  hash: true,
  deviceId: true,
  prefix: true,
  profile: true,
  usesTotal: true,
  usesLeft: true,
  createdAt: true,
  expiresAt: true,
  revokedAt: true,
});
const toDevice = fromRow<DeviceRecord>({
  id: true,
  role: true,
  profile: true,
  status: true,
  createdAt: true,
  revokedAt: true,
  revocationReason: true,
  lastSeenAt: true,
});
const toCertificate = fromRow<CertificateRecord>({
  serial: true,
  deviceId: true,
  pem: true,
  notBefore: true,
  notAfter: true,
  status: true,
  issuedAt: true,
  revokedAt: true,
  revocationReason: true,
});
const toOperator = fromRow<OperatorRecord>({
  serial: true,
  name: true,
  pem: true,
  status: true,
  createdAt: true,
  notAfter: true,
  revokedAt: true,
});
const auditColumns = fromRow<AuditEntry>({
  seq: true,
  at: true,
  actor: true,
  action: true,
  subject: true,
  details: true,
  prevHash: true,
  hash: true,
});
const toAudit = (r: Row): AuditEntry => ({
  ...auditColumns(r),
  details: JSON.parse(r["details"] as string) as Record<string, unknown>,
});

/** Every statement the registry runs, prepared once per connection. */
const SQL = {
  insertToken: `INSERT INTO tokens (id, hash, device_id, prefix, profile, uses_total, uses_left, created_at, expires_at, revoked_at)
     VALUES (@id, @hash, @deviceId, @prefix, @profile, @usesTotal, @usesLeft, @createdAt, @expiresAt, @revokedAt)`,
  tokenByHash: "SELECT * FROM tokens WHERE hash = ?",
  tokens: "SELECT * FROM tokens ORDER BY created_at, id",
  revokeToken: "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
  spendToken:
    "UPDATE tokens SET uses_left = uses_left - 1 WHERE hash = ? AND uses_left > 0 AND revoked_at IS NULL AND expires_at > ?",
  device: "SELECT * FROM devices WHERE id = ?",
  devices: "SELECT * FROM devices ORDER BY id",
  insertDevice: "INSERT INTO devices (id, role, profile, status, created_at) VALUES (?, ?, ?, 'active', ?)",
  updateDeviceProfile: "UPDATE devices SET role = ?, profile = ? WHERE id = ?",
  supersedeActive: "UPDATE certificates SET status = 'superseded' WHERE device_id = ? AND status = 'active'",
  insertCertificate: `INSERT INTO certificates (serial, device_id, pem, not_before, not_after, status, issued_at)
     VALUES (@serial, @deviceId, @pem, @notBefore, @notAfter, 'active', @issuedAt)`,
  certificate: "SELECT * FROM certificates WHERE serial = ?",
  certificatesOf: "SELECT * FROM certificates WHERE device_id = ? ORDER BY issued_at, serial",
  supersede: "UPDATE certificates SET status = 'superseded' WHERE serial = ? AND status = 'active'",
  activeCertificate: `SELECT 1 FROM certificates c JOIN devices d ON d.id = c.device_id
     WHERE c.serial = ? AND c.device_id = ? AND c.status = 'active' AND d.status = 'active'`,
  revokeDevice:
    "UPDATE devices SET status = 'revoked', revoked_at = ?, revocation_reason = ? WHERE id = ? AND status = 'active'",
  unrevokedSerials: "SELECT serial FROM certificates WHERE device_id = ? AND status != 'revoked'",
  revokeCertificates:
    "UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = ? WHERE device_id = ? AND status != 'revoked'",
  resetDevice:
    "UPDATE devices SET status = 'active', revoked_at = NULL, revocation_reason = NULL WHERE id = ? AND status = 'revoked'",
  revokedCertificates:
    "SELECT serial, revoked_at, revocation_reason FROM certificates WHERE status = 'revoked' ORDER BY revoked_at, serial",
  bumpCrlNumber: `INSERT INTO crl_state (issuer, crl_number, this_update) VALUES (?, 1, ?)
     ON CONFLICT (issuer) DO UPDATE SET crl_number = crl_number + 1, this_update = excluded.this_update
     RETURNING crl_number`,
  insertOperator: `INSERT INTO operators (serial, name, pem, status, created_at, not_after, revoked_at)
     VALUES (@serial, @name, @pem, @status, @createdAt, @notAfter, @revokedAt)`,
  operators: "SELECT * FROM operators ORDER BY name, created_at",
  activeOperator: "SELECT 1 FROM operators WHERE serial = ? AND status = 'active'",
  revokeOperator: "UPDATE operators SET status = 'revoked', revoked_at = ? WHERE name = ? AND status = 'active'",
  expiringBefore: "SELECT COUNT(*) AS n FROM certificates WHERE status = 'active' AND not_after < ?",
  lastAudit: "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
  insertAudit: `INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash)
     VALUES (@seq, @at, @actor, @action, @subject, @details, @prevHash, @hash)`,
  audit: "SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?",
} as const;

type Statements = { readonly [K in keyof typeof SQL]: Statement<unknown[]> };

function prepareAll(db: Db): Statements {
  return Object.fromEntries(Object.entries(SQL).map(([name, sql]) => [name, db.prepare(sql)])) as Statements;
}

/** The embedded registry: one SQLite file, statements prepared once. */
export class SqliteRegistry implements Registry {
  private readonly q: Statements;
  /** Enrollments and renewals, the write path under load, share COMMITs (and their fsync). */
  private readonly commits: GroupCommit;

  constructor(readonly db: Db) {
    this.q = prepareAll(db);
    this.commits = new GroupCommit(db);
  }

  static open(file: string): SqliteRegistry {
    return new SqliteRegistry(openDatabase(file));
  }

  async createToken(token: TokenRecord, audit: AuditInput): Promise<void> {
    this.db
      .transaction(() => {
        this.q.insertToken.run(token);
        this.audit(audit, token.createdAt);
      })
      .immediate();
  }

  async findTokenByHash(hash: string): Promise<TokenRecord | undefined> {
    const row = this.q.tokenByHash.get(hash) as Row | undefined;
    return row && toToken(row);
  }

  async listTokens(): Promise<TokenRecord[]> {
    return (this.q.tokens.all() as Row[]).map(toToken);
  }

  async revokeToken(id: string, at: number, audit: AuditInput): Promise<boolean> {
    return this.db
      .transaction(() => {
        const changed = this.q.revokeToken.run(at, id).changes === 1;
        if (changed) this.audit(audit, at);
        return changed;
      })
      .immediate();
  }

  async recordEnrollment(tokenHash: string, cert: NewCertificate, at: number, audit: AuditInput): Promise<void> {
    return this.commits.run(() => {
      if (this.q.spendToken.run(tokenHash, at).changes !== 1) {
        // Lost a race or the token changed since it was checked: report why, record nothing.
        assertTokenUsable(this.tokenRow(tokenHash), at);
        throw new FleetgateError("token_used", "token could not be spent");
      }
      const device = this.q.device.get(cert.deviceId) as Row | undefined;
      if (device === undefined) {
        this.q.insertDevice.run(cert.deviceId, cert.role, cert.profile, at);
      } else {
        this.assertMayReplaceCredential(tokenHash, toDevice(device));
        this.q.updateDeviceProfile.run(cert.role, cert.profile, cert.deviceId);
        this.q.supersedeActive.run(cert.deviceId);
      }
      this.q.insertCertificate.run({ ...cert, issuedAt: at });
      this.audit(audit, at);
    });
  }

  /** RFC-less but essential: a batch token must never mint a second identity for an existing device. */
  private assertMayReplaceCredential(tokenHash: string, device: DeviceRecord): void {
    if (device.status === "revoked") throw new FleetgateError("device_revoked", `device ${device.id} is revoked`);
    const token = this.tokenRow(tokenHash);
    if (token?.deviceId !== device.id)
      throw new FleetgateError("device_exists", `group token used for existing ${device.id}`);
  }

  private tokenRow(hash: string): TokenRecord | undefined {
    const row = this.q.tokenByHash.get(hash) as Row | undefined;
    return row && toToken(row);
  }

  async recordRenewal(oldSerial: string, cert: NewCertificate, at: number, audit: AuditInput): Promise<void> {
    return this.commits.run(() => {
      const ok = this.q.activeCertificate.get(oldSerial, cert.deviceId) !== undefined;
      if (!ok) throw new FleetgateError("certificate_not_active", `serial ${oldSerial} no longer active`);
      this.q.supersede.run(oldSerial);
      this.q.insertCertificate.run({ ...cert, issuedAt: at });
      this.audit(audit, at);
    });
  }

  async getDevice(id: string): Promise<DeviceRecord | undefined> {
    const row = this.q.device.get(id) as Row | undefined;
    return row && toDevice(row);
  }

  async listDevices(): Promise<DeviceRecord[]> {
    return (this.q.devices.all() as Row[]).map(toDevice);
  }

  async getCertificate(serial: string): Promise<CertificateRecord | undefined> {
    const row = this.q.certificate.get(serial) as Row | undefined;
    return row && toCertificate(row);
  }

  async listCertificates(deviceId: string): Promise<CertificateRecord[]> {
    return (this.q.certificatesOf.all(deviceId) as Row[]).map(toCertificate);
  }

  async countActiveCertificatesExpiringBefore(before: number): Promise<number> {
    return (this.q.expiringBefore.get(before) as { n: number }).n;
  }

  async isCertificateActive(serial: string, deviceId: string): Promise<boolean> {
    return this.isCertificateActiveSync(serial, deviceId);
  }

  /** The broker's admission path asks this on every CONNECT; a sync call avoids a microtask hop. */
  isCertificateActiveSync(serial: string, deviceId: string): boolean {
    return this.q.activeCertificate.get(serial, deviceId) !== undefined;
  }

  async revokeDevice(id: string, reason: string, at: number, audit: AuditInput): Promise<string[]> {
    return this.db
      .transaction(() => {
        if (this.q.revokeDevice.run(at, reason, id).changes !== 1) return [];
        const serials = (this.q.unrevokedSerials.all(id) as { serial: string }[]).map((r) => r.serial);
        this.q.revokeCertificates.run(at, reason, id);
        this.audit({ ...audit, details: { ...audit.details, reason, serials } }, at);
        return serials;
      })
      .immediate();
  }

  async resetDevice(id: string, at: number, audit: AuditInput): Promise<boolean> {
    return this.db
      .transaction(() => {
        const changed = this.q.resetDevice.run(id).changes === 1;
        if (changed) this.audit(audit, at);
        return changed;
      })
      .immediate();
  }

  async listRevokedCertificates(): Promise<RevokedCertificate[]> {
    return (this.q.revokedCertificates.all() as Row[]).map((r) => ({
      serial: r["serial"] as string,
      revokedAt: r["revoked_at"] as number,
      reason: r["revocation_reason"] as string,
    }));
  }

  async nextCrlNumber(issuer: string, at: number): Promise<number> {
    return (this.q.bumpCrlNumber.get(issuer, at) as { crl_number: number }).crl_number;
  }

  async addOperator(operator: OperatorRecord, audit: AuditInput): Promise<void> {
    this.db
      .transaction(() => {
        this.q.insertOperator.run(operator);
        this.audit(audit, operator.createdAt);
      })
      .immediate();
  }

  async listOperators(): Promise<OperatorRecord[]> {
    return (this.q.operators.all() as Row[]).map(toOperator);
  }

  async isOperatorActive(serial: string): Promise<boolean> {
    return this.q.activeOperator.get(serial) !== undefined;
  }

  async revokeOperator(name: string, at: number, audit: AuditInput): Promise<number> {
    return this.db
      .transaction(() => {
        const changed = this.q.revokeOperator.run(at, name).changes;
        if (changed > 0) this.audit(audit, at);
        return changed;
      })
      .immediate();
  }

  async appendAudit(entry: AuditInput, at: number): Promise<void> {
    this.db.transaction(() => this.audit(entry, at)).immediate();
  }

  async listAudit(options: { limit?: number; afterSeq?: number } = {}): Promise<AuditEntry[]> {
    return (this.q.audit.all(options.afterSeq ?? 0, options.limit ?? -1) as Row[]).map(toAudit);
  }

  /** Appends one chained entry; callers are always inside a write transaction. */
  private audit(entry: AuditInput, at: number): void {
    const last = this.q.lastAudit.get() as { seq: number; hash: string } | undefined;
    const content = {
      seq: (last?.seq ?? 0) + 1,
      at,
      actor: entry.actor,
      action: entry.action,
      subject: entry.subject,
      details: entry.details,
    };
    const prevHash = last?.hash ?? GENESIS_HASH;
    const hash = chainHash(prevHash, content);
    this.q.insertAudit.run({ ...content, details: JSON.stringify(entry.details), prevHash, hash });
  }

  /** Throws if the database cannot answer (used by /healthz). */
  ping(): void {
    this.db.prepare("SELECT 1").get();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
