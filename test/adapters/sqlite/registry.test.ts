import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { hashToken, type TokenRecord } from "../../../src/domain/bootstrap-token.js";
import { findChainBreak, GENESIS_HASH } from "../../../src/domain/audit-chain.js";
import { FleetgateError } from "../../../src/domain/errors.js";
import { migrate, openDatabase, schemaVersion } from "../../../src/adapters/sqlite/db.js";
import { MIGRATIONS } from "../../../src/adapters/sqlite/migrations.js";
import { SqliteRegistry } from "../../../src/adapters/sqlite/registry.js";
import type { NewCertificate } from "../../../src/ports.js";
import { makeTempDir } from "../../helpers/certs.js";
import { FIXED_NOW, tokenRecord as baseTokenRecord } from "../../helpers/records.js";

const tmp = makeTempDir("fleetgate-registry-");
afterAll(() => tmp.remove());

const NOW = FIXED_NOW;
let fileCounter = 0;
let registry: SqliteRegistry;
const opened: SqliteRegistry[] = [];
afterAll(() => opened.forEach((r) => r.close()));

function openRegistry(file = join(tmp.dir, `registry-${++fileCounter}.db`)): SqliteRegistry {
  const r = SqliteRegistry.open(file);
  opened.push(r);
  return r;
}

function count(r: SqliteRegistry, table: "devices" | "certificates" | "tokens" | "audit_log"): number {
  return (r.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
}

function tokenRecord(plain: string, overrides: Partial<TokenRecord> = {}): TokenRecord {
  return baseTokenRecord({ id: plain.slice(0, 8), hash: hashToken(plain), expiresAt: NOW + 3_600_000, ...overrides });
}

let serialCounter = 0;
function certificate(deviceId: string, serial = (++serialCounter).toString(16).padStart(32, "1")): NewCertificate {
  return {
    serial,
    deviceId,
    role: "device",
    profile: "device",
    pem: `PEM-${serial}`,
    notBefore: NOW - 300_000,
    notAfter: NOW + 86_400_000,
  };
}

const enrolledAudit = (subject: string) => ({
  actor: "token:test",
  action: "device.enrolled",
  subject,
  details: { why: "test" },
});
const createdAudit = { actor: "test", action: "token.created", subject: "t", details: {} };

async function refusal(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (error) {
    return error instanceof FleetgateError ? error.code : `other:${(error as Error).message}`;
  }
  return "no error";
}

beforeEach(() => {
  registry = openRegistry();
});

describe("database file", () => {
  it("is created with mode 0600, and so are its WAL companions", async () => {
    const file = join(tmp.dir, "mode.db");
    const r = openRegistry(file);
    await r.createToken(tokenRecord("mode-token"), createdAudit);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // SQLite gives the WAL and shared-memory files the database file's permissions.
    for (const companion of [`${file}-wal`, `${file}-shm`]) {
      expect(existsSync(companion)).toBe(true);
      expect(statSync(companion).mode & 0o777).toBe(0o600);
    }
  });

  it("uses WAL and synchronous=FULL", () => {
    expect(registry.db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(registry.db.pragma("synchronous", { simple: true })).toBe(2);
    expect(registry.db.pragma("foreign_keys", { simple: true })).toBe(1);
  });
});

describe("migrations", () => {
  it("apply every version once and are idempotent", async () => {
    const file = join(tmp.dir, "migrate.db");
    const first = openRegistry(file);
    await first.createToken(tokenRecord("keep-me"), createdAudit);
    const latest = MIGRATIONS[MIGRATIONS.length - 1]!.version;
    expect(schemaVersion(first.db)).toBe(latest);
    migrate(first.db);
    migrate(first.db);
    first.close();
    const again = openRegistry(file); // reopening migrates again
    expect(schemaVersion(again.db)).toBe(latest);
    expect((again.db.prepare("SELECT COUNT(*) AS n FROM schema_migrations").get() as { n: number }).n).toBe(
      MIGRATIONS.length,
    );
    expect(count(again, "tokens")).toBe(1);
  });

  it("have strictly increasing versions", () => {
    const versions = MIGRATIONS.map((m) => m.version);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions).size).toBe(versions.length);
    expect(versions[0]).toBe(1);
  });

  it("refuse a database from a newer fleetgate", () => {
    const file = join(tmp.dir, "newer.db");
    openRegistry(file)
      .db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)")
      .run();
    expect(() => openDatabase(file)).toThrow(/newer than this fleetgate/);
  });
});

describe("tokens", () => {
  it("stores only the hash and reads the record back", async () => {
    const record = tokenRecord("fgt_plain-secret");
    await registry.createToken(record, createdAudit);
    expect(await registry.findTokenByHash(record.hash)).toEqual(record);
    expect(await registry.findTokenByHash(hashToken("other"))).toBeUndefined();
    const everything =
      JSON.stringify(registry.db.prepare("SELECT * FROM tokens").all()) + JSON.stringify(await registry.listAudit());
    expect(everything).not.toContain("fgt_plain-secret");
  });

  it("revokes once", async () => {
    const record = tokenRecord("revoke-me");
    await registry.createToken(record, createdAudit);
    expect(await registry.revokeToken(record.id, NOW, { ...createdAudit, action: "token.revoked" })).toBe(true);
    expect(await registry.revokeToken(record.id, NOW + 1, { ...createdAudit, action: "token.revoked" })).toBe(false);
    expect((await registry.findTokenByHash(record.hash))?.revokedAt).toBe(NOW);
    expect((await registry.listAudit()).map((e) => e.action)).toEqual(["token.created", "token.revoked"]);
  });

  it("spends one use per enrollment and records device, certificate and audit together", async () => {
    const group = tokenRecord("group-tok", { deviceId: null, prefix: "fab-", usesTotal: 2, usesLeft: 2 });
    await registry.createToken(group, createdAudit);
    await registry.recordEnrollment(group.hash, certificate("fab-1", "aa".repeat(16)), NOW, enrolledAudit("fab-1"));
    expect((await registry.findTokenByHash(group.hash))?.usesLeft).toBe(1);
    expect(await registry.getDevice("fab-1")).toMatchObject({
      id: "fab-1",
      role: "device",
      status: "active",
      createdAt: NOW,
    });
    expect(await registry.getCertificate("aa".repeat(16))).toMatchObject({
      deviceId: "fab-1",
      status: "active",
      issuedAt: NOW,
    });
    expect(await registry.isCertificateActive("aa".repeat(16), "fab-1")).toBe(true);
    expect(await registry.isCertificateActive("aa".repeat(16), "fab-2")).toBe(false);
    await registry.recordEnrollment(group.hash, certificate("fab-2"), NOW, enrolledAudit("fab-2"));
    expect((await registry.findTokenByHash(group.hash))?.usesLeft).toBe(0);
    expect(
      await refusal(() => registry.recordEnrollment(group.hash, certificate("fab-3"), NOW, enrolledAudit("fab-3"))),
    ).toBe("token_used");
  });
});

describe("recordEnrollment atomicity: a refused spend records nothing", () => {
  async function expectNothingRecorded(
    tokenHash: string,
    run: () => Promise<unknown>,
    code: string,
    usesLeft: number,
  ): Promise<void> {
    const before = {
      devices: count(registry, "devices"),
      certificates: count(registry, "certificates"),
      audit: count(registry, "audit_log"),
    };
    expect(await refusal(run)).toBe(code);
    expect({
      devices: count(registry, "devices"),
      certificates: count(registry, "certificates"),
      audit: count(registry, "audit_log"),
    }).toEqual(before);
    expect((await registry.findTokenByHash(tokenHash))?.usesLeft).toBe(usesLeft);
  }

  it.each<[string, Partial<TokenRecord>, string]>([
    ["used", { usesLeft: 0 }, "token_used"],
    ["expired", { expiresAt: NOW }, "token_expired"],
    ["revoked", { revokedAt: NOW - 1 }, "token_revoked"],
  ])("%s token", async (label, overrides, code) => {
    const record = tokenRecord(`tok-${label}`, overrides);
    await registry.createToken(record, createdAudit);
    await expectNothingRecorded(
      record.hash,
      () => registry.recordEnrollment(record.hash, certificate("dev-1"), NOW, enrolledAudit("dev-1")),
      code,
      record.usesLeft,
    );
    expect(await registry.getDevice("dev-1")).toBeUndefined();
  });

  it("unknown token", async () => {
    expect(
      await refusal(() =>
        registry.recordEnrollment(hashToken("nope"), certificate("dev-1"), NOW, enrolledAudit("dev-1")),
      ),
    ).toBe("token_invalid");
    expect([count(registry, "devices"), count(registry, "certificates"), count(registry, "audit_log")]).toEqual([
      0, 0, 0,
    ]);
  });

  it("a failure after the spend (duplicate serial) rolls the spend back too", async () => {
    const first = tokenRecord("first-tok");
    const second = tokenRecord("second-tok", { id: "second", deviceId: "dev-2" });
    await registry.createToken(first, createdAudit);
    await registry.createToken(second, createdAudit);
    await registry.recordEnrollment(first.hash, certificate("dev-1", "bb".repeat(16)), NOW, enrolledAudit("dev-1"));
    const audit = count(registry, "audit_log");
    await expect(
      registry.recordEnrollment(second.hash, certificate("dev-2", "bb".repeat(16)), NOW, enrolledAudit("dev-2")),
    ).rejects.toThrow(/UNIQUE/);
    expect((await registry.findTokenByHash(second.hash))?.usesLeft).toBe(1);
    expect(await registry.getDevice("dev-2")).toBeUndefined();
    expect(count(registry, "audit_log")).toBe(audit);
  });

  it("a group token cannot mint a second identity for an existing device", async () => {
    const single = tokenRecord("single-tok");
    const group = tokenRecord("group-tok2", { id: "group", deviceId: null, prefix: "dev-", usesTotal: 5, usesLeft: 5 });
    await registry.createToken(single, createdAudit);
    await registry.createToken(group, createdAudit);
    await registry.recordEnrollment(single.hash, certificate("dev-1"), NOW, enrolledAudit("dev-1"));
    await expectNothingRecorded(
      group.hash,
      () => registry.recordEnrollment(group.hash, certificate("dev-1"), NOW, enrolledAudit("dev-1")),
      "device_exists",
      5,
    );
    expect(await registry.listCertificates("dev-1")).toHaveLength(1);
  });

  it("a revoked device cannot enroll again, even with its own token", async () => {
    const first = tokenRecord("first-rv");
    const again = tokenRecord("again-rv", { id: "again" });
    await registry.createToken(first, createdAudit);
    await registry.createToken(again, createdAudit);
    await registry.recordEnrollment(first.hash, certificate("dev-1"), NOW, enrolledAudit("dev-1"));
    registry.db.prepare("UPDATE devices SET status = 'revoked', revoked_at = ? WHERE id = 'dev-1'").run(NOW);
    await expectNothingRecorded(
      again.hash,
      () => registry.recordEnrollment(again.hash, certificate("dev-1"), NOW, enrolledAudit("dev-1")),
      "device_revoked",
      1,
    );
  });

  it("a device's own new token replaces its credential: the old certificate is superseded", async () => {
    const first = tokenRecord("first-re");
    const again = tokenRecord("again-re", { id: "again2" });
    await registry.createToken(first, createdAudit);
    await registry.createToken(again, createdAudit);
    await registry.recordEnrollment(first.hash, certificate("dev-1", "c1".repeat(16)), NOW, enrolledAudit("dev-1"));
    await registry.recordEnrollment(again.hash, certificate("dev-1", "c2".repeat(16)), NOW + 1, enrolledAudit("dev-1"));
    expect((await registry.listCertificates("dev-1")).map((c) => [c.serial, c.status])).toEqual([
      ["c1".repeat(16), "superseded"],
      ["c2".repeat(16), "active"],
    ]);
  });
});

describe("recordRenewal", () => {
  it("supersedes the old certificate and activates the new one; an old serial cannot renew twice", async () => {
    const record = tokenRecord("renew-tok");
    await registry.createToken(record, createdAudit);
    await registry.recordEnrollment(record.hash, certificate("dev-1", "d1".repeat(16)), NOW, enrolledAudit("dev-1"));
    await registry.recordRenewal("d1".repeat(16), certificate("dev-1", "d2".repeat(16)), NOW + 1, {
      ...enrolledAudit("dev-1"),
      action: "device.renewed",
    });
    expect((await registry.getCertificate("d1".repeat(16)))?.status).toBe("superseded");
    expect((await registry.getCertificate("d2".repeat(16)))?.status).toBe("active");
    const audit = count(registry, "audit_log");
    expect(
      await refusal(() =>
        registry.recordRenewal("d1".repeat(16), certificate("dev-1", "d3".repeat(16)), NOW + 2, enrolledAudit("dev-1")),
      ),
    ).toBe("certificate_not_active");
    expect(await registry.getCertificate("d3".repeat(16))).toBeUndefined();
    expect(count(registry, "audit_log")).toBe(audit);
  });
});

describe("audit log", () => {
  it("is a hash chain that verifies with findChainBreak", async () => {
    const record = tokenRecord("audit-tok", { deviceId: null, prefix: "a-", usesTotal: 3, usesLeft: 3 });
    await registry.createToken(record, createdAudit);
    await registry.recordEnrollment(record.hash, certificate("a-1"), NOW + 1, enrolledAudit("a-1"));
    await registry.appendAudit(
      { actor: "cli", action: "note", subject: null, details: { z: 1, a: { y: [1, 2] } } },
      NOW + 2,
    );
    await registry.revokeToken(record.id, NOW + 3, {
      actor: "cli",
      action: "token.revoked",
      subject: record.id,
      details: {},
    });
    const entries = await registry.listAudit();
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(entries[0]!.prevHash).toBe(GENESIS_HASH);
    expect(entries[1]!.prevHash).toBe(entries[0]!.hash);
    expect(findChainBreak(entries)).toBeNull();
    // Paging keeps the chain checkable from an anchor.
    const tail = await registry.listAudit({ afterSeq: 2 });
    expect(findChainBreak(tail, entries[1]!.hash, 3)).toBeNull();
    expect(await registry.listAudit({ limit: 1 })).toHaveLength(1);
  });

  it("refuses UPDATE and DELETE (append-only triggers)", async () => {
    await registry.appendAudit({ actor: "cli", action: "note", subject: null, details: {} }, NOW);
    expect(() => registry.db.prepare("UPDATE audit_log SET actor = 'mallory'").run()).toThrow(/append-only/);
    expect(() => registry.db.prepare("DELETE FROM audit_log").run()).toThrow(/append-only/);
    expect((await registry.listAudit())[0]?.actor).toBe("cli");
  });

  it("a row edited behind the triggers' back is found by findChainBreak", async () => {
    await registry.appendAudit({ actor: "cli", action: "a", subject: null, details: {} }, NOW);
    await registry.appendAudit({ actor: "cli", action: "b", subject: null, details: {} }, NOW + 1);
    registry.db.exec("DROP TRIGGER audit_log_no_update");
    registry.db.prepare("UPDATE audit_log SET subject = 'forged' WHERE seq = 1").run();
    expect(findChainBreak(await registry.listAudit())).toEqual({ seq: 1, problem: "content does not match its hash" });
  });
});
