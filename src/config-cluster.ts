import { z } from "zod";

// The registry URL and the `cluster` section of the configuration (README "Running a cluster").

/** `sqlite:` (a file path after the colon; empty = DATA/registry.db) or a `postgres://` URL. */
export const registryUrl = z
  .string()
  .refine((url) => /^sqlite:/.test(url) || /^postgres(ql)?:\/\//.test(url), "expected sqlite:PATH or postgres://…")
  .refine(
    (url) => !hasPassword(url),
    "no password in the URL: use PGPASSWORD or ~/.pgpass (passwords stay out of config)",
  );

export const cluster = z
  .strictObject({
    /** Redis for cluster mode: MQTT fan-out and persistence, fleetgate's events, leases. */
    redis: z
      .url({ protocol: /^rediss?$/ })
      .refine((url) => !hasPassword(url), "no password in the URL: use FLEETGATE_REDIS_PASSWORD")
      .optional(),
    /** This node's name in the cluster; default hostname-<mqtt port>. */
    nodeId: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/, "expected 1-64 characters of [A-Za-z0-9._-]")
      .optional(),
    /** Prefix of every Redis key and channel fleetgate uses (several clusters may share one Redis). */
    keyPrefix: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,64}$/)
      .default("fleetgate"),
    /**
     * `serve --workers N`: worker processes on this host, each a node (README "Workers on one host").
     * Unset: one per core with a Redis URL, else 1 (resolved in parseConfig).
     */
    workers: z.number().int().min(1).max(256).optional(),
  })
  .prefault({});

function hasPassword(url: string): boolean {
  try {
    return new URL(url).password !== "";
  } catch {
    return false;
  }
}

/**
 * Why `workers` processes cannot serve, or null. More than one without Redis is refused: each worker
 * would have its own sessions and its own MQTT fan-out and (on SQLite) a registry file another process
 * writes. (A SQLite registry with Redis is refused as a whole by parseConfig.)
 */
export function workersProblem(redis: string | undefined, workers: number): string | null {
  if (redis !== undefined || workers <= 1) return null;
  return (
    `${workers} workers need cluster mode: a PostgreSQL registry (registry: postgres://…) and Redis ` +
    "(cluster.redis: redis://…); a SQLite registry serves one process"
  );
}
