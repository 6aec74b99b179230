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
import { openDatabase, type Db } from "./db.js";

type Row = Record<string, unknown>;

const toToken = (r: Row): TokenRecord => ({
  id: r["id"] as string,
  hash: r["hash"] as string,
  deviceId: r["device_id"] as string | null,
  prefix: r["prefix"] as string | null,
  profile: r["profile"] as string,
  usesTotal: r["uses_total"] as number,
  usesLeft: r["uses_left"] as number,
  createdAt: r["created_at"] as number,
  expiresAt: r["expires_at"] as number,
  revokedAt: r["revoked_at"] as number | null,
});

const toDevice = (r: Row): DeviceRecord => ({
  id: r["id"] as string,
  role: r["role"] as string,
  profile: r["profile"] as string,
  status: r["status"] as DeviceRecord["status"],
  createdAt: r["created_at"] as number,
  revokedAt: r["revoked_at"] as number | null,
  revocationReason: r["revocation_reason"] as string | null,
  lastSeenAt: r["last_seen_at"] as number | null,
});

const toCertificate = (r: Row): CertificateRecord => ({
  serial: r["serial"] as string,
  deviceId: r["device_id"] as string,
  pem: r["pem"] as string,
  notBefore: r["not_before"] as number,
  notAfter: r["not_after"] as number,
  status: r["status"] as CertificateRecord["status"],
  issuedAt: r["issued_at"] as number,
  revokedAt: r["revoked_at"] as number | null,
  revocationReason: r["revocation_reason"] as string | null,
});

const toAudit = (r: Row): AuditEntry => ({
  seq: r["seq"] as number,
  at: r["at"] as number,
  actor: r["actor"] as string,
  action: r["action"] as string,
  subject: r["subject"] as string | null,
  details: JSON.parse(r["details"] as string) as Record<string, unknown>,
  prevHash: r["prev_hash"] as string,
  hash: r["hash"] as string,
});

/** The embedded registry: one SQLite file, statements prepared once. */
export class SqliteRegistry implements Registry {
  private readonly q;

  constructor(readonly db: Db) {
    this.q = {
      insertToken: db.prepare(
        `INSERT INTO tokens (id, hash, device_id, prefix, profile, uses_total, uses_left, created_at, expires_at, revoked_at)
         VALUES (@id, @hash, @deviceId, @prefix, @profile, @usesTotal, @usesLeft, @createdAt, @expiresAt, @revokedAt)`,
      ),
      tokenByHash: db.prepare("SELECT * FROM tokens WHERE hash = ?"),
      tokens: db.prepare("SELECT * FROM tokens ORDER BY created_at, id"),
      revokeToken: db.prepare("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"),
      spendToken: db.prepare(
        "UPDATE tokens SET uses_left = uses_left - 1 WHERE hash = ? AND uses_left > 0 AND revoked_at IS NULL AND expires_at > ?",
      ),
      device: db.prepare("SELECT * FROM devices WHERE id = ?"),
      devices: db.prepare("SELECT * FROM devices ORDER BY id"),
      insertDevice: db.prepare("INSERT INTO devices (id, role, profile, status, created_at) VALUES (?, ?, ?, 'active', ?)"),
      updateDeviceProfile: db.prepare("UPDATE devices SET role = ?, profile = ? WHERE id = ?"),
      supersedeActive: db.prepare("UPDATE certificates SET status = 'superseded' WHERE device_id = ? AND status = 'active'"),
      insertCertificate: db.prepare(
        `INSERT INTO certificates (serial, device_id, pem, not_before, not_after, status, issued_at)
         VALUES (@serial, @deviceId, @pem, @notBefore, @notAfter, 'active', @issuedAt)`,
      ),
      certificate: db.prepare("SELECT * FROM certificates WHERE serial = ?"),
      certificatesOf: db.prepare("SELECT * FROM certificates WHERE device_id = ? ORDER BY issued_at, serial"),
      supersede: db.prepare("UPDATE certificates SET status = 'superseded' WHERE serial = ? AND status = 'active'"),
      activeCertificate: db.prepare(
        `SELECT 1 FROM certificates c JOIN devices d ON d.id = c.device_id
         WHERE c.serial = ? AND c.device_id = ? AND c.status = 'active' AND d.status = 'active'`,
      ),
      revokeDevice: db.prepare(
        "UPDATE devices SET status = 'revoked', revoked_at = ?, revocation_reason = ? WHERE id = ? AND status = 'active'",
      ),
      unrevokedSerials: db.prepare("SELECT serial FROM certificates WHERE device_id = ? AND status != 'revoked'"),
      revokeCertificates: db.prepare(
        "UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = ? WHERE device_id = ? AND status != 'revoked'",
      ),
      resetDevice: db.prepare(
        "UPDATE devices SET status = 'active', revoked_at = NULL, revocation_reason = NULL WHERE id = ? AND status = 'revoked'",
      ),
      revokedCertificates: db.prepare(
        "SELECT serial, revoked_at, revocation_reason FROM certificates WHERE status = 'revoked' ORDER BY revoked_at, serial",
      ),
      bumpCrlNumber: db.prepare(
        `INSERT INTO crl_state (issuer, crl_number, this_update) VALUES (?, 1, ?)
         ON CONFLICT (issuer) DO UPDATE SET crl_number = crl_number + 1, this_update = excluded.this_update
         RETURNING crl_number`,
      ),
      insertOperator: db.prepare(
        `INSERT INTO operators (serial, name, pem, status, created_at, not_after, revoked_at)
         VALUES (@serial, @name, @pem, @status, @createdAt, @notAfter, @revokedAt)`,
      ),
      operators: db.prepare("SELECT * FROM operators ORDER BY name, created_at"),
      activeOperator: db.prepare("SELECT 1 FROM operators WHERE serial = ? AND status = 'active'"),
      revokeOperator: db.prepare("UPDATE operators SET status = 'revoked', revoked_at = ? WHERE name = ? AND status = 'active'"),
      expiringBefore: db.prepare("SELECT COUNT(*) AS n FROM certificates WHERE status = 'active' AND not_after < ?"),
      lastAudit: db.prepare("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"),
      insertAudit: db.prepare(
        `INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash)
         VALUES (@seq, @at, @actor, @action, @subject, @details, @prevHash, @hash)`,
      ),
      audit: db.prepare("SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?"),
    };
  }

  static open(file: string): SqliteRegistry {
    return new SqliteRegistry(openDatabase(file));
  }

  async createToken(token: TokenRecord, audit: AuditInput): Promise<void> {
    this.db.transaction(() => {
      this.q.insertToken.run(token);
      this.audit(audit, token.createdAt);
    }).immediate();
  }

  async findTokenByHash(hash: string): Promise<TokenRecord | undefined> {
    const row = this.q.tokenByHash.get(hash) as Row | undefined;
    return row && toToken(row);
  }

  async listTokens(): Promise<TokenRecord[]> {
    return (this.q.tokens.all() as Row[]).map(toToken);
  }

  async revokeToken(id: string, at: number, audit: AuditInput): Promise<boolean> {
    return this.db.transaction(() => {
      const changed = this.q.revokeToken.run(at, id).changes === 1;
      if (changed) this.audit(audit, at);
      return changed;
    }).immediate();
  }

  async recordEnrollment(tokenHash: string, cert: NewCertificate, at: number, audit: AuditInput): Promise<void> {
    this.db.transaction(() => {
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
    }).immediate();
  }

  /** RFC-less but essential: a batch token must never mint a second identity for an existing device. */
  private assertMayReplaceCredential(tokenHash: string, device: DeviceRecord): void {
    if (device.status === "revoked") throw new FleetgateError("device_revoked", `device ${device.id} is revoked`);
    const token = this.tokenRow(tokenHash);
    if (token?.deviceId !== device.id) throw new FleetgateError("device_exists", `group token used for existing ${device.id}`);
  }

  private tokenRow(hash: string): TokenRecord | undefined {
    const row = this.q.tokenByHash.get(hash) as Row | undefined;
    return row && toToken(row);
  }

  async recordRenewal(oldSerial: string, cert: NewCertificate, at: number, audit: AuditInput): Promise<void> {
    this.db.transaction(() => {
      const ok = this.q.activeCertificate.get(oldSerial, cert.deviceId) !== undefined;
      if (!ok) throw new FleetgateError("certificate_not_active", `serial ${oldSerial} no longer active`);
      this.q.supersede.run(oldSerial);
      this.q.insertCertificate.run({ ...cert, issuedAt: at });
      this.audit(audit, at);
    }).immediate();
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
    return this.db.transaction(() => {
      if (this.q.revokeDevice.run(at, reason, id).changes !== 1) return [];
      const serials = (this.q.unrevokedSerials.all(id) as { serial: string }[]).map((r) => r.serial);
      this.q.revokeCertificates.run(at, reason, id);
      this.audit({ ...audit, details: { ...audit.details, reason, serials } }, at);
      return serials;
    }).immediate();
  }

  async resetDevice(id: string, at: number, audit: AuditInput): Promise<boolean> {
    return this.db.transaction(() => {
      const changed = this.q.resetDevice.run(id).changes === 1;
      if (changed) this.audit(audit, at);
      return changed;
    }).immediate();
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
    this.db.transaction(() => {
      this.q.insertOperator.run(operator);
      this.audit(audit, operator.createdAt);
    }).immediate();
  }

  async listOperators(): Promise<OperatorRecord[]> {
    return (this.q.operators.all() as Row[]).map((r) => ({
      serial: r["serial"] as string,
      name: r["name"] as string,
      pem: r["pem"] as string,
      status: r["status"] as OperatorRecord["status"],
      createdAt: r["created_at"] as number,
      notAfter: r["not_after"] as number,
      revokedAt: r["revoked_at"] as number | null,
    }));
  }

  async isOperatorActive(serial: string): Promise<boolean> {
    return this.q.activeOperator.get(serial) !== undefined;
  }

  async revokeOperator(name: string, at: number, audit: AuditInput): Promise<number> {
    return this.db.transaction(() => {
      const changed = this.q.revokeOperator.run(at, name).changes;
      if (changed > 0) this.audit(audit, at);
      return changed;
    }).immediate();
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
    const content = { seq: (last?.seq ?? 0) + 1, at, actor: entry.actor, action: entry.action, subject: entry.subject, details: entry.details };
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
