import Database from "better-sqlite3";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { migrate, openDatabase, schemaVersion, type Db } from "../../../src/adapters/sqlite/db.js";
import { MIGRATIONS } from "../../../src/adapters/sqlite/migrations.js";
import { SqliteRegistry } from "../../../src/adapters/sqlite/registry.js";
import { recordAudit, verifyAudit } from "../../../src/app/audit-log.js";
import { issueToken } from "../../../src/app/issue-token.js";
import { findChainBreak } from "../../../src/domain/audit-chain.js";
import { makeTempDir } from "../../helpers/certs.js";
import { FIXED_NOW as NOW } from "../../helpers/records.js";

/**
 * What only the SQLite registry promises: its file, its pragmas, its migrations, its triggers and its
 * group commit. Everything the Registry port promises is in test/contracts/registry.contract.ts.
 */
const tmp = makeTempDir("fleetgate-sqlite-");
afterAll(() => tmp.remove());
let files = 0;
const newFile = () => join(tmp.dir, `registry-${++files}.db`);

const opened: { close(): unknown }[] = [];
afterEach(async () => {
  for (const handle of opened.splice(0)) await handle.close();
});
function openRegistry(file = newFile()): SqliteRegistry {
  const registry = SqliteRegistry.open(file);
  opened.push(registry);
  return registry;
}
function openRaw(file: string, options?: Database.Options): Db {
  const db = new Database(file, options);
  opened.push(db);
  return db;
}

const note = { actor: "cli", action: "note", subject: null, details: {} };

/**
 * COMMITs in the WAL: each commit's last frame records the database size, other frames hold 0. Frames of
 * an earlier WAL generation (other salts) are not counted. Nothing here checkpoints, so none is lost.
 */
function walCommits(file: string): number {
  const wal = readFileSync(`${file}-wal`);
  const pageSize = wal.readUInt32BE(8);
  const salts = wal.subarray(16, 24);
  let commits = 0;
  for (let at = 32; at + 24 + pageSize <= wal.length; at += 24 + pageSize) {
    if (!wal.subarray(at + 8, at + 16).equals(salts)) break;
    if (wal.readUInt32BE(at + 4) !== 0) commits++;
  }
  return commits;
}

describe("database file", () => {
  it("is created with mode 0600, and so are its WAL companions", async () => {
    const file = newFile();
    await recordAudit(openRegistry(file), note, NOW);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // SQLite gives the WAL and shared-memory files the database file's permissions.
    for (const companion of [`${file}-wal`, `${file}-shm`]) {
      expect(existsSync(companion)).toBe(true);
      expect(statSync(companion).mode & 0o777).toBe(0o600);
    }
  });

  it("opens the write connection with WAL, synchronous=FULL and foreign keys on", () => {
    const db = openDatabase(newFile());
    opened.push(db);
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.pragma("synchronous", { simple: true })).toBe(2);
    expect(db.pragma("foreign_keys", { simple: true })).toBe(1);
  });

  it("holds the token's hash, never the token itself", async () => {
    const file = newFile();
    const registry = openRegistry(file);
    const deps = { registry, clock: { now: () => NOW }, profiles: new Set(["device"]) };
    const issued = await issueToken(deps, { deviceId: "dev-1", ttlMs: 60_000, profile: "device", actor: "cli" });
    const bytes = Buffer.concat([readFileSync(file), readFileSync(`${file}-wal`)]);
    expect(bytes.includes(issued.record.hash)).toBe(true);
    expect(bytes.includes(issued.token)).toBe(false);
  });
});

describe("migrations", () => {
  const latest = MIGRATIONS[MIGRATIONS.length - 1]!.version;

  it("apply every version once, are idempotent, and keep the data on reopen", async () => {
    const file = newFile();
    const first = SqliteRegistry.open(file);
    await recordAudit(first, note, NOW);
    await first.close();
    const db = openRaw(file);
    expect(schemaVersion(db)).toBe(latest);
    migrate(db);
    migrate(db);
    expect(db.prepare("SELECT COUNT(*) AS n FROM schema_migrations").get()).toEqual({ n: MIGRATIONS.length });
    expect((await openRegistry(file).auditHead()).seq).toBe(1);
  });

  it("have strictly increasing versions from 1", () => {
    const versions = MIGRATIONS.map((m) => m.version);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions).size).toBe(versions.length);
    expect(versions[0]).toBe(1);
  });

  it("upgrade a registry from before issuing-CA rollover: everything it holds was issued by ca-1", async () => {
    const file = newFile();
    const db = openRaw(file);
    db.exec(
      "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    );
    for (const migration of MIGRATIONS.filter((m) => m.version <= 4)) {
      db.exec(migration.sql);
      db.prepare("INSERT INTO schema_migrations VALUES (?, ?, 0)").run(migration.version, migration.name);
    }
    db.exec(`
      INSERT INTO devices (id, role, profile, status, created_at) VALUES ('dev-1', 'device', 'device', 'active', 1);
      INSERT INTO certificates (serial, device_id, pem, not_before, not_after, status, issued_at)
        VALUES ('0a', 'dev-1', 'PEM', 0, ${NOW + 1}, 'active', 0);
      INSERT INTO operators (serial, name, pem, status, created_at, not_after)
        VALUES ('0b', 'admin', 'PEM', 'active', 0, ${NOW + 1});
      INSERT INTO crl_state (issuer, crl_number, this_update, der) VALUES ('issuing', 41, 5, x'3000');
    `);
    db.close();
    const registry = openRegistry(file);
    expect((await registry.getCertificate("0a"))?.issuer).toBe("ca-1");
    expect((await registry.getOperator("0b"))?.issuer).toBe("ca-1");
    // The CRL numbers of ca-1 go on from where they were (RFC 5280 §5.2.3: they only grow).
    expect(await registry.currentCrl("ca-1")).toMatchObject({ issuer: "ca-1", number: 41 });
    expect(await registry.currentCrl("issuing")).toBeUndefined();
    expect(await registry.issuerUsage("ca-1", NOW)).toEqual({
      validCertificates: 1,
      activeOperators: 1,
      lastNotAfter: NOW + 1,
    });
  });

  it("refuse a database from a newer fleetgate", async () => {
    const file = newFile();
    await SqliteRegistry.open(file).close();
    openRaw(file).prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)").run();
    expect(() => SqliteRegistry.open(file)).toThrow(/newer than this fleetgate/);
  });
});

describe("audit_log", () => {
  it("refuses UPDATE and DELETE (append-only triggers)", async () => {
    const file = newFile();
    const registry = openRegistry(file);
    await recordAudit(registry, note, NOW);
    const db = openRaw(file);
    expect(() => db.prepare("UPDATE audit_log SET actor = 'mallory'").run()).toThrow(/append-only/);
    expect(() => db.prepare("DELETE FROM audit_log").run()).toThrow(/append-only/);
    expect((await registry.listAudit({ afterSeq: 0, limit: 10 }))[0]?.actor).toBe("cli");
  });

  it("a row edited behind the triggers' back breaks the chain where it was edited", async () => {
    const file = newFile();
    const registry = openRegistry(file);
    await recordAudit(registry, note, NOW);
    await recordAudit(registry, { ...note, action: "b" }, NOW + 1);
    const db = openRaw(file);
    db.exec("DROP TRIGGER audit_log_no_update");
    db.prepare("UPDATE audit_log SET subject = 'forged' WHERE seq = 1").run();
    const entries = await registry.listAudit({ afterSeq: 0, limit: 10 });
    expect(findChainBreak(entries)).toEqual({ seq: 1, problem: "content does not match its hash" });
    expect(await verifyAudit(registry)).toMatchObject({ ok: false, break: { seq: 1 } });
  });
});

describe("group commit", () => {
  it("units of work started in one turn share one COMMIT; awaited ones commit one by one", async () => {
    const file = newFile();
    const registry = openRegistry(file);
    await recordAudit(registry, note, NOW);
    const before = walCommits(file);
    await Promise.all(Array.from({ length: 10 }, (_, i) => recordAudit(registry, note, NOW + i)));
    expect(walCommits(file)).toBe(before + 1);
    for (let i = 0; i < 3; i++) await recordAudit(registry, note, NOW + i);
    expect(walCommits(file)).toBe(before + 4);
    expect(await verifyAudit(registry)).toMatchObject({ ok: true, entries: 14 });
  });
});
