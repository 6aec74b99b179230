import type {
  AuditEntry,
  AuditHead,
  CrlStateRecord,
  FactCounts,
  FactKind,
  Page,
  RegistryImport,
  RegistrySnapshot,
  StoredFacts,
} from "../../ports.js";
import type { Db, Statement } from "./db.js";
import { assertPageLimit, keysetPage } from "../shared/keyset-page.js";
import { bindable, toAudit, toCertificate, toDevice, toOperator, toToken, type Row } from "./rows.js";
import { WRITE_SQL } from "./statements.js";

/** Each kind's table, key and row mapper: pages are keyset ranges on the primary key. */
const KINDS: { readonly [K in FactKind]: { table: string; key: string; map: (r: Row) => StoredFacts[K] } } = {
  devices: { table: "devices", key: "id", map: toDevice },
  certificates: { table: "certificates", key: "serial", map: toCertificate },
  tokens: { table: "tokens", key: "id", map: toToken },
  operators: { table: "operators", key: "serial", map: toOperator },
  audit: { table: "audit_log", key: "seq", map: toAudit },
  crls: { table: "crl_state", key: "issuer", map: toCrlState },
};
const KIND_NAMES = Object.keys(KINDS) as FactKind[];

function toCrlState(r: Row): CrlStateRecord {
  const der = r["der"] as Buffer | null;
  return {
    issuer: r["issuer"] as string,
    number: r["crl_number"] as number,
    thisUpdate: r["this_update"] as number,
    der: der === null ? null : new Uint8Array(der),
  };
}

const COUNTS = `SELECT ${KIND_NAMES.map((k) => `(SELECT COUNT(*) FROM ${KINDS[k].table}) AS ${k}`).join(", ")}`;
const AUDIT_HEAD = "SELECT seq, hash FROM audit_head WHERE id = 1";

function headOf(db: Db): AuditHead {
  return db.prepare<[], AuditHead>(AUDIT_HEAD).get()!;
}

/**
 * A read transaction on a connection of its own: in WAL mode it sees the database as it was at its
 * first read until it ends, whatever commits meanwhile (no writer is blocked).
 */
export class SqliteSnapshot implements RegistrySnapshot {
  private readonly pages = new Map<FactKind, Statement>();

  constructor(private readonly db: Db) {}

  async counts(): Promise<FactCounts> {
    return this.db.prepare<[], FactCounts>(COUNTS).get()!;
  }
  async auditHead(): Promise<AuditHead> {
    return headOf(this.db);
  }
  async page<K extends FactKind>(kind: K, after: string | null, limit: number): Promise<Page<StoredFacts[K]>> {
    assertPageLimit(limit);
    const { table, key, map } = KINDS[kind];
    let statement = this.pages.get(kind);
    if (statement === undefined) {
      statement = this.db.prepare(`SELECT * FROM ${table} WHERE ${key} > ? ORDER BY ${key} LIMIT ?`);
      this.pages.set(kind, statement);
    }
    const cursor = kind === "audit" ? Number(after ?? 0) : (after ?? "");
    const rows = (statement.all(cursor, limit + 1) as Row[]).map(map);
    return keysetPage(rows, limit, (record) => String((record as unknown as Record<string, unknown>)[key]));
  }
}

const INSERT_OF: Partial<Record<FactKind, keyof typeof WRITE_SQL>> = {
  devices: "insertDevice",
  certificates: "insertCertificate",
  tokens: "insertToken",
  operators: "insertOperator",
};
const MOVE_HEAD = "UPDATE audit_head SET seq = @seq, hash = @hash WHERE id = 1 AND seq = @previous";

/** Bulk writes on the write connection, inside the unit of work `bulkImport` runs. */
export class SqliteImport implements RegistryImport {
  private readonly inserts = new Map<string, Statement>();

  constructor(private readonly db: Db) {}

  private statement(sql: string): Statement {
    let statement = this.inserts.get(sql);
    if (statement === undefined) this.inserts.set(sql, (statement = this.db.prepare(sql)));
    return statement;
  }

  async counts(): Promise<FactCounts> {
    return this.db.prepare<[], FactCounts>(COUNTS).get()!;
  }
  async auditHead(): Promise<AuditHead> {
    return headOf(this.db);
  }

  async insert<K extends FactKind>(kind: K, records: readonly StoredFacts[K][]): Promise<void> {
    if (records.length === 0) return;
    if (kind === "audit") return this.insertAudit(records as readonly AuditEntry[]);
    if (kind === "crls") {
      const save = this.statement(WRITE_SQL.saveCrl);
      for (const crl of records as readonly CrlStateRecord[])
        save.run({ ...crl, der: crl.der === null ? null : Buffer.from(crl.der) });
      return;
    }
    const name = INSERT_OF[kind];
    if (name === undefined) throw new Error(`no insert for ${kind}`);
    const insert = this.statement(WRITE_SQL[name]);
    for (const record of records) insert.run(bindable(record));
  }

  private insertAudit(entries: readonly AuditEntry[]): void {
    const insert = this.statement(WRITE_SQL.insertAudit);
    for (const entry of entries) insert.run({ ...entry, details: JSON.stringify(entry.details) });
    const [first, last] = [entries[0]!, entries[entries.length - 1]!];
    const moved = this.statement(MOVE_HEAD).run({ seq: last.seq, hash: last.hash, previous: first.seq - 1 });
    if (moved.changes !== 1) throw new Error(`audit entry ${first.seq} does not follow the audit head`);
  }
}
