import type pg from "pg";
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
import { IMPORT_LOCK, PostgresImport, PostgresSnapshot } from "./bulk.js";
import { listDevices } from "./device-listing.js";
import { migrate } from "./migrate.js";
import { createPool, schemaName, type PostgresOptions } from "./pool.js";
import { READS } from "./reads.js";
import { withRetry } from "./retry.js";
import { reachable } from "./unavailable.js";
import { PostgresTx } from "./tx.js";

const PROBE = "INSERT INTO health (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = excluded.at";

/**
 * The clustered registry: every node shares one PostgreSQL database (or one schema of it). A unit of
 * work is one transaction on one pooled connection; its locking reads serialize it against units on
 * every node, and a conflict (deadlock, serialization failure, a row inserted by a racing unit) re-runs
 * it from scratch, which the port allows. COMMIT returns once the commit is flushed (synchronous_commit).
 */
export class PostgresRegistry implements Registry {
  private constructor(private readonly pool: pg.Pool) {}

  /** Connects, creates the schema if needed and migrates it (safe when several nodes start at once). */
  static async open(url: string, options: PostgresOptions = {}): Promise<PostgresRegistry> {
    const schema = schemaName(options);
    const pool = createPool(url, options);
    try {
      await migrate(pool, schema);
    } catch (error) {
      await pool.end();
      throw error;
    }
    return new PostgresRegistry(pool);
  }

  transact<T>(work: (tx: RegistryTx) => Promise<T>): Promise<T> {
    return reachable(() => withRetry(() => this.attempt(work)));
  }

  private async attempt<T>(work: (tx: RegistryTx) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const tx = new PostgresTx(client);
    try {
      await client.query("BEGIN ISOLATION LEVEL READ COMMITTED");
      const result = await work(tx);
      tx.ended = true;
      await client.query("COMMIT");
      client.release();
      return result;
    } catch (error) {
      tx.ended = true;
      // After a failed COMMIT this is a harmless no-op; a connection that cannot even roll back is
      // discarded rather than handed to the next unit of work.
      const rolledBack = await client.query("ROLLBACK").then(
        () => true,
        () => false,
      );
      client.release(!rolledBack);
      throw error;
    }
  }

  private async one<R extends object>(text: string, values: unknown[] = []): Promise<R | undefined> {
    return (await reachable(() => this.pool.query<R>(text, values))).rows[0];
  }

  private async all<R extends object>(text: string, values: unknown[] = []): Promise<R[]> {
    return (await reachable(() => this.pool.query<R>(text, values))).rows;
  }

  async findTokenByHash(hash: string): Promise<TokenRecord | undefined> {
    return this.one(READS.tokenByHash, [hash]);
  }
  async listTokens(): Promise<TokenRecord[]> {
    return this.all(READS.tokens);
  }
  async getDevice(id: string): Promise<DeviceRecord | undefined> {
    return this.one(READS.device, [id]);
  }
  async listDevices(query: DeviceQuery): Promise<Page<DeviceSummary>> {
    return listDevices(this.pool, query);
  }
  async countDevices(): Promise<{ total: number; revoked: number }> {
    return (await this.one<{ total: number; revoked: number }>(READS.countDevices))!;
  }
  async getCertificate(serial: string): Promise<CertificateRecord | undefined> {
    return this.one(READS.certificate, [serial]);
  }
  async listCertificates(deviceId: string): Promise<CertificateRecord[]> {
    return this.all(READS.certificatesOf, [deviceId]);
  }
  async certificateState(serial: string): Promise<CertificateState | undefined> {
    return this.one(READS.certificateState, [serial]);
  }
  async countActiveCertificatesExpiringBefore(before: number): Promise<number> {
    return (await this.one<{ n: number }>(READS.expiringBefore, [before]))!.n;
  }
  async listRevokedCertificates(query: RevokedQuery): Promise<RevokedCertificate[]> {
    return this.all(READS.revokedCertificates, [query.issuer, query.notAfterFrom]);
  }
  async issuerUsage(issuer: string, now: number): Promise<IssuerUsage> {
    return (await this.one<IssuerUsage>(READS.issuerUsage, [issuer, now]))!;
  }
  async currentCrl(issuer: string): Promise<CrlRecord | undefined> {
    const crl = await this.one<{ number: number; thisUpdate: number; der: Buffer | null }>(READS.crl, [issuer]);
    if (crl === undefined || crl.der === null) return undefined;
    // A copy: pg's Buffer may be a slice of a pooled ArrayBuffer, and the port promises an ArrayBuffer of its own.
    return { issuer, number: crl.number, thisUpdate: crl.thisUpdate, der: new Uint8Array(crl.der) };
  }
  async listOperators(): Promise<OperatorRecord[]> {
    return this.all(READS.operators);
  }
  async getOperator(serial: string): Promise<OperatorRecord | undefined> {
    return this.one(READS.operator, [serial]);
  }
  async listAudit(options: AuditQuery): Promise<AuditEntry[]> {
    const { afterSeq, limit, subject, action } = options;
    if (subject !== undefined) return this.all(READS.auditOf, [afterSeq, limit, subject]);
    if (action !== undefined) return this.all(READS.auditByAction, [afterSeq, limit, action]);
    return this.all(READS.audit, [afterSeq, limit]);
  }
  async auditHead(): Promise<AuditHead> {
    return (await this.one<AuditHead>(READS.auditHead))!;
  }

  snapshot<T>(read: (snapshot: RegistrySnapshot) => Promise<T>): Promise<T> {
    return this.onOneConnection("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", (client) =>
      read(new PostgresSnapshot(client)),
    );
  }

  bulkImport<T>(work: (target: RegistryImport) => Promise<T>): Promise<T> {
    return this.onOneConnection("BEGIN ISOLATION LEVEL READ COMMITTED", async (client) => {
      await client.query(IMPORT_LOCK);
      return work(new PostgresImport(client));
    });
  }

  /** `work` inside BEGIN (as given) … COMMIT on one pooled connection, rolled back if it throws; no retry. */
  private async onOneConnection<T>(begin: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await reachable(() => this.pool.connect());
    let result: T;
    try {
      await client.query(begin);
      result = await work(client);
      await client.query("COMMIT");
    } catch (error) {
      const rolledBack = await client.query("ROLLBACK").then(
        () => true,
        () => false,
      );
      client.release(!rolledBack);
      throw error;
    }
    client.release();
    return result;
  }

  async probeWrite(at: number): Promise<void> {
    await reachable(() => this.pool.query(PROBE, [at]));
  }

  async close(): Promise<void> {
    if (!this.pool.ended) await this.pool.end();
  }
}
