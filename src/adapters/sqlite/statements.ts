import type { Db, Statement } from "./db.js";
import { column } from "./rows.js";

/** Every fixed statement the registry runs, prepared once per connection. */
export const READ_SQL = {
  tokenByHash: "SELECT * FROM tokens WHERE hash = ?",
  tokenById: "SELECT * FROM tokens WHERE id = ?",
  tokens: "SELECT * FROM tokens ORDER BY created_at, id",
  device: "SELECT * FROM devices WHERE id = ?",
  countDevices: "SELECT COUNT(*) AS total, COUNT(*) FILTER (WHERE status = 'revoked') AS revoked FROM devices",
  certificate: "SELECT * FROM certificates WHERE serial = ?",
  certificatesOf: "SELECT * FROM certificates WHERE device_id = ? ORDER BY issued_at, serial",
  certificateState: `SELECT c.serial, c.device_id, c.status, c.not_before, c.not_after, d.status AS device_status
     FROM certificates c JOIN devices d ON d.id = c.device_id WHERE c.serial = ?`,
  expiringBefore: "SELECT COUNT(*) AS n FROM certificates WHERE status = 'active' AND not_after < ?",
  revokedCertificates: `SELECT serial, status, revoked_at, revocation_reason, not_after FROM certificates
     WHERE issuer = @issuer AND status != 'active' AND revoked_at IS NOT NULL AND not_after >= @notAfterFrom
     ORDER BY revoked_at, serial`,
  issuedCertificates: `SELECT COUNT(*) FILTER (WHERE not_after >= @now) AS valid, MAX(not_after) AS last
     FROM certificates WHERE issuer = @issuer`,
  issuedOperators: `SELECT COUNT(*) AS active, MAX(not_after) AS last FROM operators
     WHERE issuer = @issuer AND status = 'active' AND not_after >= @now`,
  supersededExpiredBefore: `SELECT * FROM certificates WHERE status = 'superseded' AND not_after < ?
     ORDER BY not_after, serial LIMIT ?`,
  unrevokedValidOf: `SELECT * FROM certificates WHERE issuer = ? AND not_after >= ? AND status != 'revoked'
     ORDER BY serial`,
  crlState: "SELECT crl_number, this_update, der FROM crl_state WHERE issuer = ?",
  operators: "SELECT * FROM operators ORDER BY name, created_at",
  operator: "SELECT * FROM operators WHERE serial = ?",
  activeOperators: "SELECT * FROM operators WHERE status = 'active' ORDER BY name, created_at",
  audit: "SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?",
  auditOf: "SELECT * FROM audit_log WHERE subject = ? AND seq > ? ORDER BY seq LIMIT ?",
  auditByAction: "SELECT * FROM audit_log WHERE action = ? AND seq > ? ORDER BY seq LIMIT ?",
  auditHead: "SELECT seq, hash FROM audit_head WHERE id = 1",
} as const;

export const WRITE_SQL = {
  insertToken: `INSERT INTO tokens (id, hash, device_id, prefix, profile, uses_total, uses_left, created_at, expires_at,
     revoked_at) VALUES (@id, @hash, @deviceId, @prefix, @profile, @usesTotal, @usesLeft, @createdAt, @expiresAt, @revokedAt)`,
  insertDevice: `INSERT INTO devices (id, role, profile, status, created_at, revoked_at, revocation_reason, last_seen_at)
     VALUES (@id, @role, @profile, @status, @createdAt, @revokedAt, @revocationReason, @lastSeenAt)`,
  insertCertificate: `INSERT INTO certificates (serial, device_id, pem, not_before, not_after, status, issued_at,
     revoked_at, revocation_reason, issuer) VALUES (@serial, @deviceId, @pem, @notBefore, @notAfter, @status,
     @issuedAt, @revokedAt, @revocationReason, @issuer)`,
  deleteSuperseded: "DELETE FROM certificates WHERE serial = ? AND status = 'superseded'",
  insertOperator: `INSERT INTO operators (serial, name, pem, status, created_at, not_after, revoked_at, issuer)
     VALUES (@serial, @name, @pem, @status, @createdAt, @notAfter, @revokedAt, @issuer)`,
  insertAudit: `INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash)
     VALUES (@seq, @at, @actor, @action, @subject, @details, @prevHash, @hash)`,
  moveAuditHead: "UPDATE audit_head SET seq = @seq, hash = @hash WHERE id = 1 AND seq = @previous AND hash = @prevHash",
  saveCrl: `INSERT INTO crl_state (issuer, crl_number, this_update, der) VALUES (@issuer, @number, @thisUpdate, @der)
     ON CONFLICT (issuer) DO UPDATE SET crl_number = excluded.crl_number, this_update = excluded.this_update,
     der = excluded.der`,
  touchDevice: "UPDATE devices SET last_seen_at = ? WHERE id = ?",
  probe: "INSERT INTO health (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
} as const;

export type Prepared<T extends Record<string, string>> = { readonly [K in keyof T]: Statement };

export function prepareAll<T extends Record<string, string>>(db: Db, sql: T): Prepared<T> {
  return Object.fromEntries(Object.entries(sql).map(([name, text]) => [name, db.prepare(text)])) as Prepared<T>;
}

/**
 * `UPDATE table SET <the given fields> WHERE key = ?`, prepared once per set of fields. The field names
 * come from the port's typed change objects, never from a request, and each must be in `allowed`.
 */
export class UpdateStatements {
  private readonly cache = new Map<string, Statement>();

  constructor(
    private readonly db: Db,
    private readonly table: string,
    private readonly key: string,
    private readonly allowed: ReadonlySet<string>,
  ) {}

  run(keyValue: string, changes: Record<string, unknown>): number {
    const fields = Object.keys(changes).filter((f) => changes[f] !== undefined);
    if (fields.length === 0) return 0;
    const unknown = fields.find((f) => !this.allowed.has(f));
    if (unknown !== undefined) throw new Error(`${this.table}.${unknown} cannot be updated`);
    const cacheKey = fields.join(",");
    let statement = this.cache.get(cacheKey);
    if (statement === undefined) {
      const set = fields.map((f) => `${column(f)} = @${f}`).join(", ");
      statement = this.db.prepare(`UPDATE ${this.table} SET ${set} WHERE ${this.key} = @key`);
      this.cache.set(cacheKey, statement);
    }
    const params = Object.fromEntries(fields.map((f) => [f, changes[f] ?? null]));
    return statement.run({ ...params, key: keyValue }).changes;
  }
}
