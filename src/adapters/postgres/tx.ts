import type { TokenRecord } from "../../domain/bootstrap-token.js";
import type {
  AuditEntry,
  AuditHead,
  CertificateRecord,
  CrlRecord,
  DeviceRecord,
  OperatorRecord,
  RegistryTx,
  RevokedCertificate,
  RevokedQuery,
} from "../../ports.js";
import type { Queryable } from "./pool.js";
import { READS } from "./reads.js";
import { INSERTS, updateOf } from "./sql.js";

/** "crl!": the advisory lock class of CRL numbering (its second key is the issuer). */
const CRL_LOCK_CLASS = 0x63726c21;

const UPDATABLE = {
  tokens: new Set(["usesLeft", "revokedAt"]),
  devices: new Set(["role", "profile", "status", "revokedAt", "revocationReason"]),
  certificates: new Set(["status", "revokedAt", "revocationReason"]),
  operators: new Set(["status", "revokedAt"]),
};

/**
 * One unit of work on one pooled connection inside BEGIN … COMMIT (READ COMMITTED). Every row it reads
 * is read FOR UPDATE, so it stays locked until the unit ends, and each locking read sees the latest
 * committed version of its row. Units lock in one order — token, device, its certificates, operators,
 * CRL state, audit head — so the use cases never deadlock one another: a certificate's device is
 * locked before the certificate itself. `ended` stops a unit that kept `tx` from writing later.
 */
export class PostgresTx implements RegistryTx {
  ended = false;

  constructor(private readonly db: Queryable) {}

  private async rows<R extends object>(text: string, values: unknown[] = []): Promise<R[]> {
    if (this.ended) throw new Error("this unit of work has ended");
    return (await this.db.query<R>(text, values)).rows;
  }

  private async run(statement: [string, unknown[]] | null): Promise<number> {
    if (this.ended) throw new Error("this unit of work has ended");
    return statement === null ? 0 : ((await this.db.query(...statement)).rowCount ?? 0);
  }

  async tokenByHash(hash: string): Promise<TokenRecord | undefined> {
    return (await this.rows<TokenRecord>(`${READS.tokenByHash} FOR UPDATE`, [hash]))[0];
  }
  async tokenById(id: string): Promise<TokenRecord | undefined> {
    return (await this.rows<TokenRecord>(`${READS.tokenById} FOR UPDATE`, [id]))[0];
  }
  async device(id: string): Promise<DeviceRecord | undefined> {
    return (await this.rows<DeviceRecord>(`${READS.device} FOR UPDATE`, [id]))[0];
  }
  async certificate(serial: string): Promise<CertificateRecord | undefined> {
    // A certificate never changes device: read its device id unlocked, lock the device, then the row.
    const owner = await this.rows<{ deviceId: string }>(
      `SELECT device_id AS "deviceId" FROM certificates WHERE serial = $1`,
      [serial],
    );
    if (owner[0] !== undefined) await this.lockDevice(owner[0].deviceId);
    return (await this.rows<CertificateRecord>(`${READS.certificate} FOR UPDATE`, [serial]))[0];
  }
  async certificatesOf(deviceId: string): Promise<CertificateRecord[]> {
    await this.lockDevice(deviceId);
    return this.rows<CertificateRecord>(`${READS.certificatesOf} FOR UPDATE`, [deviceId]);
  }
  async activeOperators(): Promise<OperatorRecord[]> {
    return this.rows<OperatorRecord>(`${READS.activeOperators} FOR UPDATE`);
  }
  async auditHead(): Promise<AuditHead> {
    return (await this.rows<AuditHead>(`${READS.auditHead} FOR UPDATE`))[0]!;
  }
  async crlState(issuer: string): Promise<{ number: number; thisUpdate: number } | undefined> {
    // An issuer's first CRL has no row to lock yet: the advisory lock serializes numbering either way.
    await this.rows("SELECT pg_advisory_xact_lock($1, hashtext($2))", [CRL_LOCK_CLASS, issuer]);
    const rows = await this.rows<{ number: number; thisUpdate: number }>(
      `SELECT crl_number AS "number", this_update AS "thisUpdate" FROM crl_state WHERE issuer = $1 FOR UPDATE`,
      [issuer],
    );
    return rows[0];
  }
  async revokedCertificates(query: RevokedQuery): Promise<RevokedCertificate[]> {
    // Not locked row by row (that would stall every revocation while a CRL is signed): CRLs are numbered
    // under the issuer's lock, and a revocation committing meanwhile publishes after its commit, which
    // signs the next CRL.
    return this.rows<RevokedCertificate>(READS.revokedCertificates, [query.issuer, query.notAfterFrom]);
  }
  async supersededExpiredBefore(before: number, limit: number): Promise<CertificateRecord[]> {
    // No unit of work locks a superseded, expired certificate but a device revocation, which locks the
    // device first: locking these rows alone, in one order, cannot close a cycle with it.
    return this.rows<CertificateRecord>(`${READS.supersededExpiredBefore} FOR UPDATE`, [before, limit]);
  }
  async unrevokedValidCertificatesOf(issuer: string, at: number): Promise<CertificateRecord[]> {
    // The lock order: every device concerned (in id order), then the certificates.
    await this.rows(
      `SELECT 1 FROM devices WHERE id IN (SELECT device_id FROM certificates WHERE issuer = $1 AND not_after >= $2
         AND status <> 'revoked') ORDER BY id FOR UPDATE`,
      [issuer, at],
    );
    return this.rows<CertificateRecord>(`${READS.unrevokedValidOf} FOR UPDATE`, [issuer, at]);
  }

  private async lockDevice(id: string): Promise<void> {
    await this.rows("SELECT 1 FROM devices WHERE id = $1 FOR UPDATE", [id]);
  }

  async insertToken(token: TokenRecord): Promise<void> {
    await this.run(INSERTS.token(token));
  }
  async updateToken(id: string, changes: Partial<Pick<TokenRecord, "usesLeft" | "revokedAt">>): Promise<void> {
    await this.run(updateOf("tokens", "id", UPDATABLE.tokens, id, changes));
  }
  async insertDevice(device: DeviceRecord): Promise<void> {
    await this.run(INSERTS.device(device));
  }
  async updateDevice(id: string, changes: Partial<DeviceRecord>): Promise<void> {
    await this.run(updateOf("devices", "id", UPDATABLE.devices, id, changes));
  }
  async insertCertificate(certificate: CertificateRecord): Promise<void> {
    await this.run(INSERTS.certificate(certificate));
  }
  async updateCertificate(serial: string, changes: Partial<CertificateRecord>): Promise<void> {
    await this.run(updateOf("certificates", "serial", UPDATABLE.certificates, serial, changes));
  }
  async deleteSupersededCertificates(serials: readonly string[]): Promise<number> {
    if (serials.length === 0) return 0;
    return this.run([
      "DELETE FROM certificates WHERE serial = ANY($1::text[]) AND status = 'superseded'",
      [[...serials]],
    ]);
  }
  async insertOperator(operator: OperatorRecord): Promise<void> {
    await this.run(INSERTS.operator(operator));
  }
  async updateOperator(serial: string, changes: Pick<OperatorRecord, "status" | "revokedAt">): Promise<void> {
    await this.run(updateOf("operators", "serial", UPDATABLE.operators, serial, changes));
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    // The head moves first: an entry that does not follow it is refused before its seq can collide with
    // an existing one (a unique violation would be retried as a conflict, and fail the same way again).
    const moved = await this.run([
      "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1 AND seq = $3 AND hash = $4",
      [entry.seq, entry.hash, entry.seq - 1, entry.prevHash],
    ]);
    if (moved !== 1) throw new Error(`audit entry ${entry.seq} does not follow the audit head`);
    await this.run(INSERTS.audit(entry));
  }

  async saveCrl(crl: CrlRecord): Promise<void> {
    await this.run([
      `INSERT INTO crl_state (issuer, crl_number, this_update, der) VALUES ($1, $2, $3, $4)
       ON CONFLICT (issuer) DO UPDATE SET crl_number = excluded.crl_number, this_update = excluded.this_update,
       der = excluded.der`,
      [crl.issuer, crl.number, crl.thisUpdate, Buffer.from(crl.der)],
    ]);
  }

  async touchDevices(ids: readonly string[], at: number): Promise<void> {
    if (ids.length === 0) return;
    // Locked in id order first, so two batches touching overlapping devices cannot deadlock.
    await this.run([
      `UPDATE devices SET last_seen_at = $1 WHERE id IN
         (SELECT id FROM devices WHERE id = ANY($2::text[]) ORDER BY id FOR UPDATE)`,
      [at, [...ids]],
    ]);
  }
}
