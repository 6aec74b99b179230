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
import type { Queryable } from "./pool.js";
import { assertPageLimit, keysetPage } from "../shared/keyset-page.js";
import { READS } from "./reads.js";
import { column, COLUMNS, FIELDS } from "./sql.js";

/** Each kind's table, key, select list and fields (null: CRL state, written row by row). */
const KINDS: {
  readonly [K in FactKind]: { table: string; key: string; select: string; fields: readonly string[] | null };
} = {
  devices: { table: "devices", key: "id", select: COLUMNS.device, fields: FIELDS.device },
  certificates: { table: "certificates", key: "serial", select: COLUMNS.certificate, fields: FIELDS.certificate },
  tokens: { table: "tokens", key: "id", select: COLUMNS.token, fields: FIELDS.token },
  operators: { table: "operators", key: "serial", select: COLUMNS.operator, fields: FIELDS.operator },
  audit: { table: "audit_log", key: "seq", select: COLUMNS.audit, fields: FIELDS.audit },
  crls: {
    table: "crl_state",
    key: "issuer",
    select: `issuer, crl_number AS "number", this_update AS "thisUpdate", der`,
    fields: null,
  },
};
const KIND_NAMES = Object.keys(KINDS) as FactKind[];
const COUNTS = `SELECT ${KIND_NAMES.map((k) => `(SELECT COUNT(*) FROM ${KINDS[k].table}) AS "${k}"`).join(", ")}`;

/** The tables an import writes, locked against every other writer (readers still read) until it ends. */
export const IMPORT_LOCK = `LOCK TABLE ${[...KIND_NAMES.map((k) => KINDS[k].table), "audit_head"].join(", ")}
  IN EXCLUSIVE MODE`;

async function countsOf(db: Queryable): Promise<FactCounts> {
  return (await db.query<FactCounts>(COUNTS)).rows[0]!;
}

async function headOf(db: Queryable): Promise<AuditHead> {
  return (await db.query<AuditHead>(READS.auditHead)).rows[0]!;
}

/** Pages of one REPEATABLE READ transaction: every page sees the snapshot of its first statement. */
export class PostgresSnapshot implements RegistrySnapshot {
  constructor(private readonly db: Queryable) {}

  counts(): Promise<FactCounts> {
    return countsOf(this.db);
  }
  auditHead(): Promise<AuditHead> {
    return headOf(this.db);
  }
  async page<K extends FactKind>(kind: K, after: string | null, limit: number): Promise<Page<StoredFacts[K]>> {
    assertPageLimit(limit);
    const { table, key, select } = KINDS[kind];
    const cursor = kind === "audit" ? Number(after ?? 0) : (after ?? "");
    const sql = `SELECT ${select} FROM ${table} WHERE ${key} > $1 ORDER BY ${key} LIMIT $2`;
    let rows = (await this.db.query<Record<string, unknown>>(sql, [cursor, limit + 1])).rows;
    // A copy of each DER: pg's Buffer may be a slice of a pooled ArrayBuffer.
    if (kind === "crls")
      rows = rows.map((r) => ({ ...r, der: r["der"] === null ? null : new Uint8Array(r["der"] as Buffer) }));
    return keysetPage(rows as unknown as StoredFacts[K][], limit, (record) =>
      String((record as unknown as Record<string, unknown>)[key]),
    );
  }
}

const SAVE_CRL = `INSERT INTO crl_state (issuer, crl_number, this_update, der) VALUES ($1, $2, $3, $4)`;
const MOVE_HEAD = "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1 AND seq = $3";

/** The column type of each record field that is not TEXT (instants are epoch ms in BIGINT). */
const NOT_TEXT: Readonly<Record<string, string>> = {
  createdAt: "bigint",
  revokedAt: "bigint",
  lastSeenAt: "bigint",
  notBefore: "bigint",
  notAfter: "bigint",
  issuedAt: "bigint",
  expiresAt: "bigint",
  seq: "bigint",
  at: "bigint",
  usesTotal: "integer",
  usesLeft: "integer",
  details: "json",
};

/**
 * Bulk writes inside the import's transaction. A page is one INSERT … SELECT FROM unnest(one typed
 * array per column): one round trip per page. Not json_populate_recordset: audit details may hold a
 * \u0000 escape, which PostgreSQL's JSON functions refuse to turn into text (a json column keeps it).
 */
export class PostgresImport implements RegistryImport {
  constructor(private readonly db: Queryable) {}

  counts(): Promise<FactCounts> {
    return countsOf(this.db);
  }
  auditHead(): Promise<AuditHead> {
    return headOf(this.db);
  }

  async insert<K extends FactKind>(kind: K, records: readonly StoredFacts[K][]): Promise<void> {
    if (records.length === 0) return;
    const { table, fields } = KINDS[kind];
    if (fields === null) {
      for (const crl of records as readonly CrlStateRecord[])
        await this.db.query(SAVE_CRL, [crl.issuer, crl.number, crl.thisUpdate, crl.der && Buffer.from(crl.der)]);
      return;
    }
    const arrays = fields.map((field) =>
      records.map((record) => {
        const value = (record as unknown as Record<string, unknown>)[field] ?? null;
        return field === "details" ? JSON.stringify(value) : value;
      }),
    );
    const unnest = fields.map((field, i) => `$${i + 1}::${NOT_TEXT[field] ?? "text"}[]`).join(", ");
    await this.db.query(
      `INSERT INTO ${table} (${fields.map(column).join(", ")}) SELECT * FROM unnest(${unnest})`,
      arrays,
    );
    if (kind === "audit") await this.moveHead(records as readonly AuditEntry[]);
  }

  private async moveHead(entries: readonly AuditEntry[]): Promise<void> {
    const [first, last] = [entries[0]!, entries[entries.length - 1]!];
    const moved = await this.db.query(MOVE_HEAD, [last.seq, last.hash, first.seq - 1]);
    if (moved.rowCount !== 1) throw new Error(`audit entry ${first.seq} does not follow the audit head`);
  }
}
