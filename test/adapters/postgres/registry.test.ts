import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { LATEST_VERSION, schemaVersion } from "../../../src/adapters/postgres/migrate.js";
import { MIGRATIONS } from "../../../src/adapters/postgres/migrations.js";
import { createPool } from "../../../src/adapters/postgres/pool.js";
import { PostgresRegistry } from "../../../src/adapters/postgres/registry.js";
import { recordAudit } from "../../../src/app/audit-log.js";
import { deferred, device } from "../../contracts/registry/fixtures.js";
import { FIXED_NOW as NOW } from "../../helpers/records.js";

type Deferred = ReturnType<typeof deferred>;
import { admin, POSTGRES_URL, postgresSuiteName, postgresUnavailable, schemaFamily } from "../../helpers/postgres.js";

/**
 * What only the PostgreSQL registry promises: its migrations (several nodes starting at once, a newer
 * schema refused), its append-only triggers and its column types. The port's promises are in
 * test/contracts/registry.contract.ts.
 */
const unavailable = await postgresUnavailable();
const schemas = schemaFamily("pg");
afterAll(() => (unavailable === null ? schemas.dropAll() : undefined));

async function withRegistry(schema: string, work: (registry: PostgresRegistry) => Promise<void>): Promise<void> {
  const registry = await PostgresRegistry.open(POSTGRES_URL, { schema });
  try {
    await work(registry);
  } finally {
    await registry.close();
  }
}

const inSchema = <T>(schema: string, work: (client: pg.Client) => Promise<T>) =>
  admin(async (client) => {
    await client.query(`SET search_path TO ${schema}`);
    return work(client);
  });

describe.skipIf(unavailable !== null)(postgresSuiteName("PostgresRegistry (PostgreSQL only)", unavailable), () => {
  it("migrates once when three nodes start at the same time", async () => {
    const schema = schemas.next();
    const nodes = await Promise.all([1, 2, 3].map(() => PostgresRegistry.open(POSTGRES_URL, { schema, poolSize: 2 })));
    try {
      await Promise.all(
        nodes.map((node, i) =>
          recordAudit(node, { actor: `node-${i}`, action: "start", subject: null, details: {} }, NOW),
        ),
      );
      expect((await nodes[0]!.auditHead()).seq).toBe(3);
    } finally {
      await Promise.all(nodes.map((node) => node.close()));
    }
    await inSchema(schema, async (client) => {
      expect(await schemaVersion(client)).toBe(LATEST_VERSION);
      const { rows } = await client.query<{ n: number }>("SELECT COUNT(*)::int AS n FROM schema_migrations");
      expect(rows[0]!.n).toBe(MIGRATIONS.length);
    });
    // A node starting later finds nothing left to do.
    await withRegistry(schema, async (registry) => expect((await registry.auditHead()).seq).toBe(3));
  });

  it("re-runs a unit of work that PostgreSQL aborted as a deadlock victim; both units commit", async () => {
    const schema = schemas.next();
    await withRegistry(schema, async (registry) => {
      await registry.transact(async (tx) => {
        for (const id of ["dev-a", "dev-b"]) await tx.insertDevice(device(id));
      });
      // Each unit locks one device, waits until the other holds its own, then asks for the other's.
      const [aLocked, bLocked] = [deferred(), deferred()];
      let runs = 0;
      const crossing = (mine: string, theirs: string, locked: Deferred, other: Deferred) =>
        registry.transact(async (tx) => {
          runs++;
          await tx.device(mine);
          locked.resolve();
          await other.promise;
          await tx.device(theirs);
          await tx.updateDevice(mine, { role: `touched-by-${mine}` });
        });
      await Promise.all([crossing("dev-a", "dev-b", aLocked, bLocked), crossing("dev-b", "dev-a", bLocked, aLocked)]);
      // At least the victim's re-run; on a loaded machine the re-run may grab its first lock before the
      // survivor takes it and collide once more, which is re-run the same way.
      expect(runs).toBeGreaterThanOrEqual(3);
      expect((await registry.getDevice("dev-a"))?.role).toBe("touched-by-dev-a");
      expect((await registry.getDevice("dev-b"))?.role).toBe("touched-by-dev-b");
    });
  });

  it("upgrades a schema from before issuing-CA rollover: everything it holds was issued by ca-1", async () => {
    const schema = schemas.next();
    await admin(async (client) => {
      await client.query(`CREATE SCHEMA ${schema}`);
      await client.query(`SET search_path TO ${schema}`);
      await client.query(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
      );
      await client.query(MIGRATIONS[0]!.sql);
      await client.query("INSERT INTO schema_migrations VALUES (1, $1, 0)", [MIGRATIONS[0]!.name]);
      await client.query(`INSERT INTO devices (id, role, profile, status, created_at) VALUES ('dev-1', 'device', 'device', 'active', 1);
        INSERT INTO certificates (serial, device_id, pem, not_before, not_after, status, issued_at)
          VALUES ('0a', 'dev-1', 'PEM', 0, ${NOW + 1}, 'active', 0);
        INSERT INTO operators (serial, name, pem, status, created_at, not_after) VALUES ('0b', 'admin', 'PEM', 'active', 0, ${NOW + 1});
        INSERT INTO crl_state (issuer, crl_number, this_update, der) VALUES ('issuing', 41, 5, '\\x3000')`);
    });
    await withRegistry(schema, async (registry) => {
      expect((await registry.getCertificate("0a"))?.issuer).toBe("ca-1");
      expect((await registry.getOperator("0b"))?.issuer).toBe("ca-1");
      expect(await registry.currentCrl("ca-1")).toMatchObject({ issuer: "ca-1", number: 41 });
      // Every insert names its issuer: no default is left to fill one in silently.
      await expect(
        inSchema(schema, (client) =>
          client.query(
            "INSERT INTO certificates (serial, device_id, pem, not_before, not_after, status, issued_at) VALUES ('0c', 'dev-1', 'P', 0, 1, 'active', 0)",
          ),
        ),
      ).rejects.toThrow(/null value in column "issuer"/);
    });
  });

  it("refuses a schema newer than this fleetgate", async () => {
    const schema = schemas.next();
    await withRegistry(schema, async () => undefined);
    await inSchema(schema, (client) =>
      client.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)"),
    );
    await expect(PostgresRegistry.open(POSTGRES_URL, { schema })).rejects.toThrow(/newer than this fleetgate/);
  });

  it("refuses a schema name that would need quoting", async () => {
    await expect(PostgresRegistry.open(POSTGRES_URL, { schema: 'x"; DROP TABLE devices; --' })).rejects.toThrow(
      /must match/,
    );
  });

  it("keeps audit_log append-only: UPDATE, DELETE and TRUNCATE are refused", async () => {
    const schema = schemas.next();
    await withRegistry(schema, (registry) =>
      recordAudit(registry, { actor: "cli", action: "note", subject: null, details: {} }, NOW).then(() => undefined),
    );
    await inSchema(schema, async (client) => {
      for (const statement of ["UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log", "TRUNCATE audit_log"])
        await expect(client.query(statement)).rejects.toThrow(/append-only/);
      const { rows } = await client.query<{ actor: string }>("SELECT actor FROM audit_log");
      expect(rows).toEqual([{ actor: "cli" }]);
    });
  });

  it("orders ids in byte order whatever the database's collation", async () => {
    const schema = schemas.next();
    await withRegistry(schema, async () => undefined);
    const collations = await admin((client) =>
      client.query<{ collation_name: string | null }>(
        `SELECT collation_name FROM information_schema.columns
         WHERE table_schema = $1 AND (table_name, column_name) IN (('devices', 'id'), ('certificates', 'device_id'))`,
        [schema],
      ),
    );
    expect(collations.rows.map((c) => c.collation_name)).toEqual(["C", "C"]);
  });

  it("sets up every pooled session: its schema, synchronous commit, BIGINT as a safe number", async () => {
    const schema = schemas.next();
    await withRegistry(schema, async () => undefined);
    const pool = createPool(POSTGRES_URL, { schema });
    try {
      const settings = await pool.query<{ path: string; sync: string }>(
        "SELECT current_setting('search_path') AS path, current_setting('synchronous_commit') AS sync",
      );
      expect(settings.rows).toEqual([{ path: schema, sync: "on" }]);
      const epoch = await pool.query<{ v: unknown }>("SELECT 1700000000000::bigint AS v");
      expect(epoch.rows[0]!.v).toBe(1_700_000_000_000);
      await expect(pool.query("SELECT 9007199254740993::bigint AS v")).rejects.toThrow(/does not fit/);
    } finally {
      await pool.end();
    }
    // Installed on that pool only: pg's global parser still returns BIGINT as a string.
    const globalParser = pg.types.getTypeParser(20) as (text: string) => unknown;
    expect(globalParser("9007199254740993")).toBe("9007199254740993");
  });
});
