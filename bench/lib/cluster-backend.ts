import { randomBytes } from "node:crypto";
import { cleanRedis, REDIS_URL } from "../../test/helpers/cluster.js";
import { POSTGRES_URL, schemaFamily } from "../../test/helpers/postgres.js";
import type { Cleanup } from "./cleanup.js";

/**
 * Cluster mode for one benchmark run (`--workers`): a PostgreSQL schema and a Redis key prefix of its
 * own on the test servers (FLEETGATE_TEST_POSTGRES_URL / FLEETGATE_TEST_REDIS_URL, else the local
 * defaults), dropped and deleted by the cleanup.
 */
export interface ClusterBackend {
  readonly registry: string;
  readonly redis: string;
  readonly keyPrefix: string;
  /** `serve` flags for `workers` workers on this backend. */
  serveArgs(workers: number): string[];
  /** The server's environment: the key prefix (there is no flag for it). */
  readonly env: NodeJS.ProcessEnv;
}

export function clusterBackend(cleanup: Cleanup): ClusterBackend {
  const schemas = schemaFamily("bench");
  const registry = `${POSTGRES_URL}?schema=${schemas.next()}`;
  const keyPrefix = `fgbench-${randomBytes(4).toString("hex")}`;
  cleanup.add(async () => {
    await cleanRedis(REDIS_URL, keyPrefix);
    await schemas.dropAll();
  });
  return {
    registry,
    redis: REDIS_URL,
    keyPrefix,
    serveArgs: (workers) => ["--registry", registry, "--redis", REDIS_URL, "--workers", String(workers)],
    env: { ...process.env, FLEETGATE_CLUSTER_KEY_PREFIX: keyPrefix },
  };
}
