import { randomBytes } from "node:crypto";
import pg from "pg";

/** Where the PostgreSQL tests look for a server (trust auth on the `test` database by default). */
export const POSTGRES_URL = process.env["FLEETGATE_TEST_POSTGRES_URL"] ?? "postgres://postgres@127.0.0.1:5432/test";

/** Why PostgreSQL cannot be used, or null when it answers. Asked once per test file. */
export async function postgresUnavailable(url = POSTGRES_URL): Promise<string | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The describe name: says SKIPPED, and why, when there is no server. */
export function postgresSuiteName(name: string, unavailable: string | null): string {
  return unavailable === null ? name : `${name} (skipped: PostgreSQL not reachable at ${POSTGRES_URL}: ${unavailable})`;
}

/** Schemas of one test file: random names under one prefix, all dropped by `dropAll`. */
export function schemaFamily(label: string) {
  const prefix = `fg_${label}_${randomBytes(4).toString("hex")}`;
  let n = 0;
  const created = new Set<string>();
  return {
    next(): string {
      const schema = `${prefix}_${++n}`;
      created.add(schema);
      return schema;
    },
    async drop(schema: string): Promise<void> {
      await admin((c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
      created.delete(schema);
    },
    async dropAll(): Promise<void> {
      for (const schema of [...created]) await this.drop(schema);
    },
  };
}

/** Runs `work` on a connection of its own (outside any registry), then closes it. */
export async function admin<T>(work: (client: pg.Client) => Promise<T>, url = POSTGRES_URL): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
