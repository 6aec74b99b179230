import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { verifyAudit } from "../../src/app/audit-log.js";
import { copyRegistry } from "../../src/app/copy-registry.js";
import { PostgresRegistry } from "../../src/adapters/postgres/registry.js";
import { SqliteRegistry } from "../../src/adapters/sqlite/registry.js";
import { everything, seedEverything } from "../contracts/registry/copy-fixtures.js";
import { makeTempDir } from "../helpers/certs.js";
import { POSTGRES_URL, postgresSuiteName, postgresUnavailable, schemaFamily } from "../helpers/postgres.js";

const unavailable = await postgresUnavailable();
const schemas = schemaFamily("copy");
const tmp = makeTempDir("fleetgate-copy-");
afterAll(async () => {
  if (unavailable === null) await schemas.dropAll();
  tmp.remove();
});

/** The copy across adapters: what one stores, the other stores the same, read back as the same records. */
describe.skipIf(unavailable !== null)(postgresSuiteName("registry copy across adapters", unavailable), () => {
  it("copies SQLite into PostgreSQL and that back into SQLite, every fact unchanged", async () => {
    const sqlite = SqliteRegistry.open(join(tmp.dir, "source.db"));
    const postgres = await PostgresRegistry.open(POSTGRES_URL, { schema: schemas.next() });
    const back = SqliteRegistry.open(join(tmp.dir, "back.db"));
    try {
      await seedEverything(sqlite);
      const source = await everything(sqlite);
      await copyRegistry(sqlite, postgres, { pageSize: 3 });
      expect(await everything(postgres)).toEqual(source);
      expect(await verifyAudit(postgres)).toMatchObject({ ok: true, entries: 7 });
      await copyRegistry(postgres, back);
      expect(await everything(back)).toEqual(source);
      expect(await back.listDevices({ limit: 10 })).toEqual(await sqlite.listDevices({ limit: 10 }));
    } finally {
      for (const registry of [sqlite, postgres, back]) await registry.close();
    }
  });
});
