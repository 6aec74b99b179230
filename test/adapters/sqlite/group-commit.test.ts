import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GroupCommit } from "../../../src/adapters/sqlite/group-commit.js";

describe("GroupCommit", () => {
  let dir: string;
  let db: Database.Database;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "fleetgate-gc-"));
    db = new Database(join(dir, "t.db"));
    db.pragma("journal_mode = WAL");
    db.exec("CREATE TABLE t (k TEXT PRIMARY KEY)");
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const keys = () => (db.prepare("SELECT k FROM t ORDER BY k").all() as { k: string }[]).map((r) => r.k);

  it("commits jobs of one turn together; a throwing job rolls back only its own writes", async () => {
    const commits = new GroupCommit(db);
    const insert = db.prepare("INSERT INTO t (k) VALUES (?)");
    const results = await Promise.allSettled([
      commits.run(() => (insert.run("a"), "A")),
      commits.run(() => {
        insert.run("b");
        throw new Error("refused");
      }),
      commits.run(() => (insert.run("c"), "C")),
      commits.run(() => insert.run("a")), // primary key conflict: refused, "a" stays once
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled", "rejected"]);
    expect((results[0] as PromiseFulfilledResult<string>).value).toBe("A");
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ message: "refused" });
    expect(keys()).toEqual(["a", "c"]);
  });

  it("answers nobody before the COMMIT: a job's change is visible once its promise settles", async () => {
    const commits = new GroupCommit(db);
    const reader = new Database(join(dir, "t.db"), { readonly: true });
    try {
      const pending = commits.run(() => db.prepare("INSERT INTO t (k) VALUES ('x')").run());
      expect(reader.prepare("SELECT COUNT(*) AS n FROM t").get()).toEqual({ n: 0 });
      await pending;
      expect(reader.prepare("SELECT COUNT(*) AS n FROM t").get()).toEqual({ n: 1 });
    } finally {
      reader.close();
    }
  });

  it("rejects every job of a batch whose transaction cannot start, and commits later batches", async () => {
    const commits = new GroupCommit(db);
    const blocker = new Database(join(dir, "t.db"), { timeout: 0 });
    db.pragma("busy_timeout = 0");
    blocker.exec("BEGIN IMMEDIATE");
    const failed = await Promise.allSettled([commits.run(() => 1), commits.run(() => 2)]);
    expect(failed.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    blocker.exec("ROLLBACK");
    blocker.close();
    await commits.run(() => db.prepare("INSERT INTO t (k) VALUES ('later')").run());
    expect(keys()).toEqual(["later"]);
  });
});
