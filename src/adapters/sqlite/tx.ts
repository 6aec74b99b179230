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
import type { Db } from "./db.js";
import { bindable, toCertificate, toDevice, toOperator, toRevoked, toToken, type Row } from "./rows.js";
import { prepareAll, READ_SQL, UpdateStatements, WRITE_SQL, type Prepared } from "./statements.js";

/** Everything a unit of work runs, on the write connection (which sees its own uncommitted writes). */
export class SqliteStatements {
  readonly read: Prepared<typeof READ_SQL>;
  readonly write: Prepared<typeof WRITE_SQL>;
  readonly tokens: UpdateStatements;
  readonly devices: UpdateStatements;
  readonly certificates: UpdateStatements;
  readonly operators: UpdateStatements;

  constructor(db: Db) {
    this.read = prepareAll(db, READ_SQL);
    this.write = prepareAll(db, WRITE_SQL);
    this.tokens = new UpdateStatements(db, "tokens", "id", new Set(["usesLeft", "revokedAt"]));
    const deviceFields = ["role", "profile", "status", "revokedAt", "revocationReason"];
    this.devices = new UpdateStatements(db, "devices", "id", new Set(deviceFields));
    const certificateFields = ["status", "revokedAt", "revocationReason"];
    this.certificates = new UpdateStatements(db, "certificates", "serial", new Set(certificateFields));
    this.operators = new UpdateStatements(db, "operators", "serial", new Set(["status", "revokedAt"]));
  }
}

/**
 * One unit of work's view of the write connection. SQLite's BEGIN IMMEDIATE already holds the one
 * write lock, so reads need no row locks; `ended` stops a unit that kept `tx` from writing later.
 */
export class SqliteTx implements RegistryTx {
  ended = false;

  constructor(private readonly q: SqliteStatements) {}

  private get<T>(statement: keyof typeof READ_SQL, map: (r: Row) => T, ...params: unknown[]): T | undefined {
    this.assertOpen();
    const row = this.q.read[statement].get(...params) as Row | undefined;
    return row && map(row);
  }

  private assertOpen(): void {
    if (this.ended) throw new Error("this unit of work has ended");
  }

  async tokenByHash(hash: string): Promise<TokenRecord | undefined> {
    return this.get("tokenByHash", toToken, hash);
  }
  async tokenById(id: string): Promise<TokenRecord | undefined> {
    return this.get("tokenById", toToken, id);
  }
  async device(id: string): Promise<DeviceRecord | undefined> {
    return this.get("device", toDevice, id);
  }
  async certificate(serial: string): Promise<CertificateRecord | undefined> {
    return this.get("certificate", toCertificate, serial);
  }
  async certificatesOf(deviceId: string): Promise<CertificateRecord[]> {
    this.assertOpen();
    return (this.q.read.certificatesOf.all(deviceId) as Row[]).map(toCertificate);
  }
  async activeOperators(): Promise<OperatorRecord[]> {
    this.assertOpen();
    return (this.q.read.activeOperators.all() as Row[]).map(toOperator);
  }
  async auditHead(): Promise<AuditHead> {
    return this.get("auditHead", (r) => ({ seq: r["seq"] as number, hash: r["hash"] as string }))!;
  }
  async crlState(issuer: string): Promise<{ number: number; thisUpdate: number } | undefined> {
    return this.get(
      "crlState",
      (r) => ({ number: r["crl_number"] as number, thisUpdate: r["this_update"] as number }),
      issuer,
    );
  }
  async revokedCertificates(query: RevokedQuery): Promise<RevokedCertificate[]> {
    this.assertOpen();
    return (this.q.read.revokedCertificates.all(query) as Row[]).map(toRevoked);
  }
  async supersededExpiredBefore(before: number, limit: number): Promise<CertificateRecord[]> {
    this.assertOpen();
    return (this.q.read.supersededExpiredBefore.all(before, limit) as Row[]).map(toCertificate);
  }
  async unrevokedValidCertificatesOf(issuer: string, at: number): Promise<CertificateRecord[]> {
    this.assertOpen();
    return (this.q.read.unrevokedValidOf.all(issuer, at) as Row[]).map(toCertificate);
  }

  async insertToken(token: TokenRecord): Promise<void> {
    this.run("insertToken", bindable(token));
  }
  async updateToken(id: string, changes: Partial<Pick<TokenRecord, "usesLeft" | "revokedAt">>): Promise<void> {
    this.assertOpen();
    this.q.tokens.run(id, changes);
  }
  async insertDevice(device: DeviceRecord): Promise<void> {
    this.run("insertDevice", bindable(device));
  }
  async updateDevice(id: string, changes: Partial<DeviceRecord>): Promise<void> {
    this.assertOpen();
    this.q.devices.run(id, changes);
  }
  async insertCertificate(certificate: CertificateRecord): Promise<void> {
    this.run("insertCertificate", bindable(certificate));
  }
  async updateCertificate(serial: string, changes: Partial<CertificateRecord>): Promise<void> {
    this.assertOpen();
    this.q.certificates.run(serial, changes);
  }
  async deleteSupersededCertificates(serials: readonly string[]): Promise<number> {
    let deleted = 0;
    for (const serial of serials) deleted += this.run("deleteSuperseded", serial);
    return deleted;
  }
  async insertOperator(operator: OperatorRecord): Promise<void> {
    this.run("insertOperator", bindable(operator));
  }
  async updateOperator(serial: string, changes: Pick<OperatorRecord, "status" | "revokedAt">): Promise<void> {
    this.assertOpen();
    this.q.operators.run(serial, changes);
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    this.run("insertAudit", { ...entry, details: JSON.stringify(entry.details) });
    const head = { seq: entry.seq, hash: entry.hash, previous: entry.seq - 1, prevHash: entry.prevHash };
    const moved = this.run("moveAuditHead", head);
    if (moved !== 1) throw new Error(`audit entry ${entry.seq} does not follow the audit head`);
  }

  async saveCrl(crl: CrlRecord): Promise<void> {
    this.run("saveCrl", { ...crl, der: Buffer.from(crl.der) });
  }

  async touchDevices(ids: readonly string[], at: number): Promise<void> {
    for (const id of ids) this.run("touchDevice", at, id);
  }

  private run(statement: keyof typeof WRITE_SQL, ...params: unknown[]): number {
    this.assertOpen();
    return this.q.write[statement].run(...params).changes;
  }
}
