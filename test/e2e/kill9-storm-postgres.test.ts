import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { killChildren } from "../helpers/cli.js";
import { POSTGRES_URL, postgresSuiteName, postgresUnavailable, schemaFamily } from "../helpers/postgres.js";
import { expectStormExercised } from "./kill9/expectations.js";
import { runKill9Scenario } from "./kill9/scenario.js";

/**
 * The same fault injection as kill9-storm.test.ts (same storm, same invariants: test/e2e/kill9/), with
 * the registry in PostgreSQL (a schema of this test's own): a `kill -9` drops the server's connections
 * mid-transaction, and whatever PostgreSQL had not committed must be as if it never happened, whatever it
 * had committed must have been answered — or cut — never refused. Skipped, saying so, without a server.
 */
const unavailable = await postgresUnavailable();
const SEED = Number(process.env["FLEETGATE_TEST_KILL9_SEED"] ?? 0x9e5eed);
const KILLS = 4;

afterAll(async () => {
  await killChildren();
});

describe.skipIf(unavailable !== null)(
  postgresSuiteName("e2e: kill -9 during enrollment and revocation storms (PostgreSQL)", unavailable),
  { timeout: 120_000 },
  () => {
    const schemas = schemaFamily("kill9");
    afterAll(async () => {
      await killChildren(); // before the schema goes: a server left by a failure still holds connections
      await schemas.dropAll();
    });

    it(`keeps tokens, certificates, revocations, the audit chain and the CRL number (seed ${SEED})`, async () => {
      const dataDir = mkdtempSync(join(tmpdir(), "fleetgate-kill9-pg-"));
      try {
        const registry = `${POSTGRES_URL}?schema=${schemas.next()}`;
        const result = await runKill9Scenario({ target: { dataDir, registry }, seed: SEED, kills: KILLS });
        expectStormExercised(result, KILLS);
        expect(result.violations).toEqual([]);
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  },
);
