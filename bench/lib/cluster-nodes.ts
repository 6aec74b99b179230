/**
 * The engines and processes of the cluster benchmark: a fresh PostgreSQL schema, a Redis key prefix,
 * and `fleetgate serve` nodes as separate processes on one data dir (the pattern of
 * test/e2e/cluster.test.ts). Everything made here is registered with the benchmark's cleanup, so a
 * failure or Ctrl-C drops the schema, deletes the Redis keys and kills the nodes.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import pg from "pg";
import { AdminClient } from "../../src/adapters/cli/admin-client.js";
import { loadConfig } from "../../src/config.js";
import { runtimeFile } from "../../src/runtime-file.js";
import type { Cleanup } from "./cleanup.js";
import { startServer, type FleetgateServer } from "./fleetgate.js";

export const POSTGRES_URL = process.env["FLEETGATE_BENCH_POSTGRES_URL"] ?? "postgres://postgres@127.0.0.1:5432/test";
export const REDIS_URL = process.env["FLEETGATE_BENCH_REDIS_URL"] ?? "redis://127.0.0.1:6379";

export const randomSuffix = () => randomBytes(4).toString("hex");

async function withPg<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A schema name for the registry (created by fleetgate's migrations), dropped by the cleanup. */
export function benchSchema(cleanup: Cleanup): { schema: string; registryUrl: string } {
  const schema = `bench_cluster_${randomSuffix()}`;
  cleanup.add(() => withPg((c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)).then(() => undefined));
  return { schema, registryUrl: `${POSTGRES_URL}?schema=${schema}` };
}

/** Why the cluster cannot be benchmarked here (no PostgreSQL or no Redis), or null. */
export async function enginesUnavailable(): Promise<string | null> {
  try {
    await withPg((c) => c.query("SELECT 1"));
  } catch (error) {
    return `PostgreSQL at ${POSTGRES_URL}: ${(error as Error).message}`;
  }
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on("error", () => undefined);
  try {
    await redis.connect();
    await redis.ping();
    return null;
  } catch (error) {
    return `Redis at ${REDIS_URL}: ${(error as Error).message}`;
  } finally {
    redis.disconnect();
  }
}

/** Deletes every key under `prefix:` (SCAN, never KEYS: the Redis is shared). */
export async function cleanRedisPrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    for (let cursor = "0"; ;) {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
      if (keys.length > 0) await redis.del(...keys);
      if ((cursor = next) === "0") break;
    }
  } finally {
    redis.disconnect();
  }
}

export interface BenchNode {
  /** The node id, or null for a single node (no cluster). */
  readonly id: string | null;
  readonly server: FleetgateServer;
  readonly mqttPort: number;
  admin(): AdminClient;
}

export interface NodeStart {
  readonly dataDir: string;
  readonly cleanup: Cleanup;
  readonly logName: string;
  /** Cluster mode: node id and Redis key prefix; absent = one node, no Redis. */
  readonly cluster?: { readonly id: string; readonly keyPrefix: string };
  /** Registry URL when it is not the data dir's configured one. */
  readonly registry?: string;
  readonly nodeFlags?: readonly string[];
}

/** One `fleetgate serve`; resolved once every listener is up and the runtime file the CLI reads exists. */
export async function startNode(start: NodeStart): Promise<BenchNode> {
  const id = start.cluster?.id ?? null;
  const serveArgs = [
    ...(start.registry ? ["--registry", start.registry] : []),
    // One process per node: with Redis, serve would otherwise fork a worker per core (`--workers`).
    ...(start.cluster ? ["--redis", REDIS_URL, "--node-id", start.cluster.id, "--workers", "1"] : []),
  ];
  const server = await startServer({
    dataDir: start.dataDir,
    logFile: join(start.dataDir, `${start.logName}.log`),
    cleanup: start.cleanup,
    readyService: "metrics",
    serveArgs,
    ...(start.cluster ? { env: { FLEETGATE_CLUSTER_KEY_PREFIX: start.cluster.keyPrefix } } : {}),
    ...(start.nodeFlags ? { nodeFlags: start.nodeFlags } : {}),
  });
  const runtime = runtimeFile(start.dataDir, id ?? undefined);
  for (let waited = 0; !existsSync(runtime); waited += 50) {
    if (waited > 30_000) throw new Error(`${runtime} not written 30 s after the listeners were up`);
    await sleep(50);
  }
  const config = loadConfig({ dataDir: start.dataDir }, {});
  return {
    id,
    server,
    mqttPort: server.ports["mqtt"]!,
    admin: () => AdminClient.fromConfig(config, "admin", id ?? undefined),
  };
}
