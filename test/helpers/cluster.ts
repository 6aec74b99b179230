import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { issueToken, type IssueTokenRequest } from "../../src/app/issue-token.js";
import { parseConfig, type Config, type ConfigInput } from "../../src/config.js";
import { createLogger } from "../../src/logger.js";
import { initDataDir, startFleetgate, type RunningFleetgate } from "../../src/main.js";
import { systemClock } from "../../src/ports.js";
import { pkiPaths } from "../../src/adapters/shared/key-files.js";
import { LogCapture, type TestFleetgate } from "./fleetgate.js";
import { POSTGRES_URL, postgresUnavailable, schemaFamily } from "./postgres.js";

export const REDIS_URL = process.env["FLEETGATE_TEST_REDIS_URL"] ?? "redis://127.0.0.1:6379";

/** Why Redis cannot be used, or null when it answers PING. */
export async function redisUnavailable(url = REDIS_URL): Promise<string | null> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on("error", () => undefined); // the answer is the connect result
  try {
    await redis.connect();
    await redis.ping();
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    redis.disconnect();
  }
}

/** Why the cluster tests cannot run here (no PostgreSQL, no Redis), or null. */
export async function clusterUnavailable(): Promise<string | null> {
  const pg = await postgresUnavailable();
  if (pg !== null) return `PostgreSQL not reachable at ${POSTGRES_URL}: ${pg}`;
  const redis = await redisUnavailable();
  return redis === null ? null : `Redis not reachable at ${REDIS_URL}: ${redis}`;
}

export interface TestCluster {
  readonly dataDir: string;
  readonly nodes: TestFleetgate[];
  readonly registryUrl: string;
  readonly keyPrefix: string;
  /** Starts one more node on the same data dir, registry and Redis. */
  addNode(nodeId: string, overrides?: ConfigInput): Promise<TestFleetgate>;
  close(): Promise<void>;
}

function nodeConfig(
  dataDir: string,
  base: ConfigInput,
  nodeId: string,
  redis: string,
  registry: string,
  keyPrefix: string,
): Config {
  const zero = { host: "127.0.0.1", port: 0 };
  return parseConfig({
    dataDir,
    logLevel: "debug",
    registry,
    enroll: {
      ...zero,
      rateLimit: { perAddress: { perSecond: 10_000, burst: 10_000 }, perToken: { perSecond: 10_000, burst: 10_000 } },
    },
    mqtt: zero,
    pki: zero,
    admin: zero,
    metrics: zero,
    ...base,
    cluster: { redis, nodeId, keyPrefix },
  });
}

/**
 * Nodes of one cluster inside this test process: one data dir (the PKI), one PostgreSQL schema (the
 * registry), one Redis key prefix. Each node is a complete fleetgate with its own listeners on ephemeral
 * ports, its own Aedes and its own Redis connections — the same code paths as separate processes.
 */
export async function startTestCluster(
  names: string[],
  options: { overrides?: ConfigInput; redisUrl?: string; postgresUrl?: string } = {},
): Promise<TestCluster> {
  const dataDir = mkdtempSync(join(tmpdir(), "fleetgate-cluster-"));
  const schemas = schemaFamily("cluster");
  const schema = schemas.next();
  const registryUrl = `${options.postgresUrl ?? POSTGRES_URL}?schema=${schema}`;
  const keyPrefix = `fgtest-${randomBytes(4).toString("hex")}`;
  const redis = options.redisUrl ?? REDIS_URL;
  const base = options.overrides ?? {};
  const first = nodeConfig(dataDir, base, names[0] ?? "node-1", redis, registryUrl, keyPrefix);
  await initDataDir({ ...first, cluster: { ...first.cluster, redis: undefined } }, createLogger("silent"));
  const nodes: TestFleetgate[] = [];
  const addNode = async (nodeId: string, overrides: ConfigInput = {}) => {
    const node = await startNode(nodeConfig(dataDir, { ...base, ...overrides }, nodeId, redis, registryUrl, keyPrefix));
    nodes.push(node);
    return node;
  };
  for (const name of names) await addNode(name);
  return {
    dataDir,
    nodes,
    registryUrl,
    keyPrefix,
    addNode,
    async close() {
      for (const node of nodes.splice(0).reverse()) await node.running.close().catch(() => undefined);
      await cleanRedis(redis, keyPrefix);
      await schemas.dropAll();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function startNode(config: Config): Promise<TestFleetgate> {
  const logs = new LogCapture();
  const logger = createLogger("debug", logs);
  const running: RunningFleetgate = await startFleetgate(config, logger);
  const pki = pkiPaths(config.dataDir);
  const profiles = new Set(Object.keys(config.profiles));
  return {
    dataDir: config.dataDir,
    config,
    pki,
    running,
    logs,
    logger,
    enrollUrl: `https://localhost:${running.ports.enroll}`,
    rootCaPem: readFileSync(pki.rootCert, "utf8"),
    async token(request: Partial<IssueTokenRequest>) {
      const issued = await issueToken(
        { registry: running.registry, clock: systemClock, profiles },
        { ttlMs: 3_600_000, profile: "device", actor: "test", ...request },
      );
      return issued.token;
    },
    close: () => running.close(),
  };
}

export async function cleanRedis(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
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
