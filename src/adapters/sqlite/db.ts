import Database from "better-sqlite3";
import { closeSync, existsSync, openSync } from "node:fs";
import { MIGRATIONS } from "./migrations.js";

export type Db = Database.Database;
export type Statement<P extends unknown[] | Record<string, unknown> = unknown[]> = Database.Statement<P>;

/**
 * Opens the registry file: WAL so readers never block the writer, `synchronous=FULL` so an
 * issued or revoked certificate survives a power cut the moment the call returns.
 */
export function openDatabase(file: string): Db {
  // Created 0600 before SQLite opens it (an empty file is a new database): no moment where a
  // registry of token hashes and certificates is readable by others. -wal/-shm inherit the mode.
  if (!existsSync(file)) closeSync(openSync(file, "wx", 0o600));
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  migrate(db);
  return db;
}

/**
 * A second connection for reads: in WAL mode it sees only committed data, so nothing a pending unit of
 * work wrote (and may still roll back) is ever visible to admission, OCSP or the admin API.
 */
export function openReader(file: string): Db {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  db.pragma("busy_timeout = 5000");
  return db;
}

export function schemaVersion(db: Db): number {
  const row = db.prepare("SELECT MAX(version) AS v FROM schema_migrations").get() as { v: number | null };
  return row.v ?? 0;
}

export function migrate(db: Db): void {
  db.exec(
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
  );
  const current = schemaVersion(db);
  const latest = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
  if (current > latest)
    throw new Error(`registry schema v${current} is newer than this fleetgate (v${latest}); upgrade fleetgate`);
  for (const migration of MIGRATIONS.filter((m) => m.version > current)) {
    db.transaction(() => {
      db.exec(migration.sql);
      db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)").run(
        migration.version,
        migration.name,
        Date.now(),
      );
    }).immediate();
  }
}
