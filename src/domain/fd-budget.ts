/**
 * File descriptors are one pool for the whole process: every open connection of every listener, the
 * registry's files, the log. If MQTT connections could use them all, the admin and metrics listeners
 * (and SQLite) would fail with EMFILE exactly when an operator needs them. So at start-up the
 * per-listener connection caps plus a headroom must fit the process's open-file limit; the MQTT cap,
 * the only large one, gives way.
 */

/** Registry (two SQLite connections with WAL and shm), the lock, logs, listening sockets, libuv, a pool. */
export const FD_HEADROOM = 256;

export interface FdBudgetInput {
  /** The process's soft RLIMIT_NOFILE; null when unknown or unlimited. */
  readonly limit: number | null;
  /** The HTTP listeners' connection caps, by listener. */
  readonly fixed: Readonly<Record<string, number>>;
  /** The configured `mqtt.maxConnections`. */
  readonly mqtt: number;
  readonly headroom?: number;
}

export type FdBudget =
  /** Everything fits (or the limit is unknown): the MQTT cap stays as configured. */
  | { readonly kind: "fits"; readonly mqtt: number; readonly required: number }
  /** The MQTT cap is lowered to what fits; `required` is the `ulimit -n` the configuration needs. */
  | { readonly kind: "capped"; readonly mqtt: number; readonly required: number; readonly limit: number }
  /** Not even the HTTP listeners' caps and the headroom fit, with a single MQTT connection. */
  | { readonly kind: "impossible"; readonly required: number; readonly limit: number };

export function fdBudget(input: FdBudgetInput): FdBudget {
  const headroom = input.headroom ?? FD_HEADROOM;
  const fixed = Object.values(input.fixed).reduce((sum, cap) => sum + cap, 0) + headroom;
  const required = fixed + input.mqtt;
  if (input.limit === null || required <= input.limit) return { kind: "fits", mqtt: input.mqtt, required };
  const room = input.limit - fixed;
  if (room < 1) return { kind: "impossible", required, limit: input.limit };
  return { kind: "capped", mqtt: room, required, limit: input.limit };
}

/**
 * `Max open files` of Linux's /proc/<pid>/limits: the soft limit, null when "unlimited" or absent.
 * (Node raises its soft limit to the hard one at start-up, so this is the hard limit in effect.)
 */
export function parseOpenFileLimit(limits: string): number | null {
  const line = limits.split("\n").find((l) => l.startsWith("Max open files"));
  const soft = line?.slice("Max open files".length).trim().split(/\s+/)[0];
  if (soft === undefined || !/^\d+$/.test(soft)) return null;
  return Number(soft);
}
