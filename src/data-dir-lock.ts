import Database from "better-sqlite3";
import { chmodSync, closeSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";

/**
 * An exclusive OS lock on `<data>/run/<name>.lock`, held for the life of the process. Node has no
 * flock(2); SQLite takes POSIX advisory locks (fcntl) on its database file, so an open
 * `BEGIN EXCLUSIVE` transaction on a dedicated lock database is exactly that lock: a second process —
 * or a second connection in this process — gets SQLITE_BUSY at once, and the kernel releases it when
 * the holder exits, however it exits (kill -9 included). Nothing is ever written to it. Chosen over
 * npm lock-file packages: proper-lockfile is a mkdir with an mtime heartbeat (a killed holder blocks
 * until it goes stale), fs-ext needs a native build; better-sqlite3 is already here. Like every fcntl
 * lock, it is only as good as the filesystem's locking (local filesystems yes, some NFS setups not).
 *
 * `name` is a parameter because the cluster mode locks per node id (`run/<nodeId>.lock`).
 */
export class DataDirLock {
  private constructor(
    private readonly db: Database.Database,
    readonly file: string,
  ) {}

  static file(dataDir: string, name: string): string {
    return join(dataDir, "run", `${name}.lock`);
  }

  /** Takes the lock, or throws DataDirLockedError naming the file when another holder has it. */
  static acquire(dataDir: string, name = "serve"): DataDirLock {
    const file = DataDirLock.file(dataDir, name);
    mkdirSync(join(dataDir, "run"), { recursive: true, mode: 0o700 });
    closeSync(openSync(file, "a", 0o600));
    chmodSync(file, 0o600);
    // timeout 0: a held lock is an answer, not something to wait for.
    const db = new Database(file, { timeout: 0 });
    try {
      db.exec("BEGIN EXCLUSIVE");
    } catch (error) {
      db.close();
      if ((error as { code?: string }).code === "SQLITE_BUSY") throw new DataDirLockedError(dataDir, file);
      throw error;
    }
    return new DataDirLock(db, file);
  }

  get held(): boolean {
    return this.db.open && this.db.inTransaction;
  }

  release(): void {
    if (!this.db.open) return;
    if (this.db.inTransaction) this.db.exec("ROLLBACK");
    this.db.close();
  }
}

export class DataDirLockedError extends Error {
  override name = "DataDirLockedError";
  constructor(
    readonly dataDir: string,
    readonly file: string,
  ) {
    super(`another fleetgate is already serving ${dataDir} (it holds the lock ${file}); stop it first`);
  }
}
