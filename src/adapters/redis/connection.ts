import { Redis, type RedisOptions } from "ioredis";

export interface RedisTarget {
  readonly url: string;
  /** Never in the URL (config refuses that): from FLEETGATE_REDIS_PASSWORD. */
  readonly password?: string;
  /** Every key and channel fleetgate uses starts with it (several clusters may share one Redis). */
  readonly keyPrefix: string;
}

/**
 * One ioredis connection. Commands are not queued while Redis is away (`enableOfflineQueue: false`):
 * a caller hears "unavailable" at once instead of waiting behind a reconnect, and the registry (the
 * source of truth) covers what the fast path loses. ioredis reconnects with a capped backoff and
 * resubscribes a subscriber's channels by itself.
 */
export function connectRedis(target: RedisTarget, role: string, overrides: RedisOptions = {}): Redis {
  return new Redis(target.url, {
    ...(target.password === undefined ? {} : { password: target.password }),
    connectionName: `fleetgate-${role}`,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt) => Math.min(100 * attempt, 2000),
    lazyConnect: false,
    ...overrides,
  });
}

/** Resolves once the connection is ready (start-up waits for Redis: a node without it is not a node). */
export async function ready(redis: Redis, timeoutMs = 10_000): Promise<void> {
  if (redis.status === "ready") return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Redis not reachable within ${timeoutMs} ms`)), timeoutMs);
    redis.once("ready", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export function key(target: Pick<RedisTarget, "keyPrefix">, ...parts: string[]): string {
  return [target.keyPrefix, ...parts].join(":");
}
