import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { killChildren } from "../helpers/cli.js";
import { expectStormExercised } from "./kill9/expectations.js";
import { runKill9Scenario } from "./kill9/scenario.js";

/**
 * Fault injection on the embedded default (SQLite in the data dir): the real `fleetgate serve` is
 * `kill -9`ed four times mid-storm — enrollments over JSON and EST, raced single-use tokens, an
 * over-subscribed group token, revocations through the admin API — and started again on the same data
 * dir. What must hold afterwards (test/e2e/kill9/invariants.ts): no bootstrap token spent twice; every
 * certificate a client got is in the registry, none exists that a refusal should have prevented; every
 * acknowledged revocation is durable and on the CRL; the audit chain verifies with no seq gap; the CRL
 * number strictly grows across restarts. The seed fixes the structure (tokens, races, kill points);
 * FLEETGATE_TEST_KILL9_SEED replays another.
 */
const SEED = Number(process.env["FLEETGATE_TEST_KILL9_SEED"] ?? 0x5eed);
const KILLS = 4;

afterAll(async () => {
  await killChildren();
});

describe("e2e: kill -9 during enrollment and revocation storms (SQLite)", { timeout: 120_000 }, () => {
  it(`keeps tokens, certificates, revocations, the audit chain and the CRL number (seed ${SEED})`, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "fleetgate-kill9-"));
    try {
      const result = await runKill9Scenario({ target: { dataDir }, seed: SEED, kills: KILLS });
      expectStormExercised(result, KILLS);
      expect(result.violations).toEqual([]);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
