import pgDriver from "pg";
import type pg from "pg";
import { MIGRATIONS } from "./migrations.js";
import type { Queryable } from "./pool.js";

/** "flgt": the advisory lock class of schema migrations (its second key is the schema's name). */
const MIGRATION_LOCK_CLASS = 0x666c6774;

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

export async function schemaVersion(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ v: number | null }>("SELECT MAX(version)::int AS v FROM schema_migrations");
  return rows[0]?.v ?? 0;
}

/**
 * Brings the schema to the latest version, in one transaction. Several nodes may start at once: the
 * transaction-scoped advisory lock lets one of them migrate while the others wait, and those then find
 * nothing left to do. DDL is transactional in PostgreSQL, so a failed migration leaves nothing behind.
 */
export async function migrate(pool: pg.Pool, schema: string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [MIGRATION_LOCK_CLASS, schema]);
    await applyPending(client, schema);
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

async function applyPending(client: pg.PoolClient, schema: string): Promise<void> {
  // Not CREATE SCHEMA IF NOT EXISTS: that still demands CREATE on the database when the schema exists.
  const exists = await client.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [schema]);
  if (exists.rowCount === 0) await client.query(`CREATE SCHEMA ${schema}`);
  await client.query(
    `CREATE TABLE IF NOT EXISTS schema_migrations (
       version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`,
  );
  const current = await schemaVersion(client);
  if (current > LATEST_VERSION)
    throw new Error(`registry schema v${current} is newer than this fleetgate (v${LATEST_VERSION}); upgrade fleetgate`);
  for (const migration of MIGRATIONS.filter((m) => m.version > current)) {
    await client.query(migration.sql);
    await client.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)", [
      migration.version,
      migration.name,
      Date.now(),
    ]);
  }
}

/** Whether `schema` holds a registry (its migrations table), asked without creating anything. */
export async function registryExists(url: string, schema: string): Promise<boolean> {
  const client = new pgDriver.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    const { rows } = await client.query<{ found: boolean }>(
      "SELECT to_regclass(quote_ident($1) || '.schema_migrations') IS NOT NULL AS found",
      [schema],
    );
    return rows[0]?.found === true;
  } finally {
    await client.end();
  }
}
