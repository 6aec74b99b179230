import type { TokenRecord } from "../../domain/bootstrap-token.js";
import type {
  AuditEntry,
  AuditHead,
  AuditQuery,
  CertificateRecord,
  CertificateState,
  CrlRecord,
  DeviceQuery,
  DeviceRecord,
  DeviceSummary,
  OperatorRecord,
  Page,
  Registry,
  RegistryImport,
  RegistrySnapshot,
  RegistryTx,
  RevokedCertificate,
  RevokedQuery,
  IssuerUsage,
} from "../../ports.js";
import { openDatabase, openReader, type Db } from "./db.js";
import { SqliteImport, SqliteSnapshot } from "./bulk.js";
import { DeviceListing } from "./device-listing.js";
import { GroupCommit } from "./group-commit.js";
import {
  toAudit,
  toCertificate,
  toCertificateState,
  toDevice,
  toIssuerUsage,
  toOperator,
  toRevoked,
  toToken,
  type Row,
} from "./rows.js";
import { prepareAll, READ_SQL, type Prepared } from "./statements.js";
import { SqliteStatements, SqliteTx } from "./tx.js";

/**
 * The embedded registry: one SQLite file (WAL, synchronous=FULL). Units of work run on the write
 * connection, grouped into shared COMMITs; reads run on a second connection that only ever sees
 * committed data. better-sqlite3 answers synchronously, so every method resolves at once.
 */
export class SqliteRegistry implements Registry {
  private readonly reads: Prepared<typeof READ_SQL>;
  private readonly writeStatements: SqliteStatements;
  private readonly commits: GroupCommit;
  private readonly listing: DeviceListing;

  private constructor(
    private readonly file: string,
    private readonly writer: Db,
    private readonly reader: Db,
  ) {
    this.writeStatements = new SqliteStatements(writer);
    this.commits = new GroupCommit(writer);
    this.reads = prepareAll(reader, READ_SQL);
    this.listing = new DeviceListing(reader);
  }

  /** Opens (creating 0600 and migrating if needed) the registry file. */
  static open(file: string): SqliteRegistry {
    const writer = openDatabase(file);
    return new SqliteRegistry(file, writer, openReader(file));
  }

  transact<T>(work: (tx: RegistryTx) => Promise<T>): Promise<T> {
    return this.commits.run(async () => {
      const tx = new SqliteTx(this.writeStatements);
      try {
        return await work(tx);
      } finally {
        tx.ended = true;
      }
    });
  }

  private one<T>(statement: keyof typeof READ_SQL, map: (r: Row) => T, ...params: unknown[]): T | undefined {
    const row = this.reads[statement].get(...params) as Row | undefined;
    return row && map(row);
  }

  private all<T>(statement: keyof typeof READ_SQL, map: (r: Row) => T, ...params: unknown[]): T[] {
    return (this.reads[statement].all(...params) as Row[]).map(map);
  }

  async findTokenByHash(hash: string): Promise<TokenRecord | undefined> {
    return this.one("tokenByHash", toToken, hash);
  }
  async listTokens(): Promise<TokenRecord[]> {
    return this.all("tokens", toToken);
  }
  async getDevice(id: string): Promise<DeviceRecord | undefined> {
    return this.one("device", toDevice, id);
  }
  async listDevices(query: DeviceQuery): Promise<Page<DeviceSummary>> {
    return this.listing.list(query);
  }
  async countDevices(): Promise<{ total: number; revoked: number }> {
    return this.one("countDevices", (r) => ({ total: r["total"] as number, revoked: r["revoked"] as number }))!;
  }
  async getCertificate(serial: string): Promise<CertificateRecord | undefined> {
    return this.one("certificate", toCertificate, serial);
  }
  async listCertificates(deviceId: string): Promise<CertificateRecord[]> {
    return this.all("certificatesOf", toCertificate, deviceId);
  }
  async certificateState(serial: string): Promise<CertificateState | undefined> {
    return this.one("certificateState", toCertificateState, serial);
  }
  async countActiveCertificatesExpiringBefore(before: number): Promise<number> {
    return this.one("expiringBefore", (r) => r["n"] as number, before)!;
  }
  async listRevokedCertificates(query: RevokedQuery): Promise<RevokedCertificate[]> {
    return this.all("revokedCertificates", toRevoked, query);
  }
  async issuerUsage(issuer: string, now: number): Promise<IssuerUsage> {
    const certificates = this.one("issuedCertificates", (r) => r, { issuer, now })!;
    return toIssuerUsage(
      certificates,
      this.one("issuedOperators", (r) => r, { issuer, now })!,
    );
  }
  async currentCrl(issuer: string): Promise<CrlRecord | undefined> {
    const crl = this.one("crlState", (r) => r, issuer);
    if (!crl || crl["der"] === null) return undefined;
    const der = new Uint8Array(crl["der"] as Buffer);
    return { issuer, number: crl["crl_number"] as number, thisUpdate: crl["this_update"] as number, der };
  }
  async listOperators(): Promise<OperatorRecord[]> {
    return this.all("operators", toOperator);
  }
  async getOperator(serial: string): Promise<OperatorRecord | undefined> {
    return this.one("operator", toOperator, serial);
  }
  async listAudit(options: AuditQuery): Promise<AuditEntry[]> {
    const { afterSeq, limit, subject, action } = options;
    if (subject !== undefined) return this.all("auditOf", toAudit, subject, afterSeq, limit);
    if (action !== undefined) return this.all("auditByAction", toAudit, action, afterSeq, limit);
    return this.all("audit", toAudit, afterSeq, limit);
  }
  async auditHead(): Promise<AuditHead> {
    return this.one("auditHead", (r) => ({ seq: r["seq"] as number, hash: r["hash"] as string }))!;
  }

  async snapshot<T>(read: (snapshot: RegistrySnapshot) => Promise<T>): Promise<T> {
    // A connection of its own: a read transaction on the shared reader would pin every other read to it.
    const db = openReader(this.file);
    try {
      db.exec("BEGIN");
      return await read(new SqliteSnapshot(db));
    } finally {
      db.close();
    }
  }

  bulkImport<T>(work: (target: RegistryImport) => Promise<T>): Promise<T> {
    // One unit of the group commit, alone in its savepoint: SQLite's one write lock keeps other writers out.
    return this.commits.run(() => work(new SqliteImport(this.writer)));
  }

  async probeWrite(at: number): Promise<void> {
    await this.commits.run(() => this.writeStatements.write.probe.run(at));
  }

  async close(): Promise<void> {
    for (const db of [this.reader, this.writer]) if (db.open) db.close();
  }
}
