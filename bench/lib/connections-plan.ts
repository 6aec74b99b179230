/**
 * Sizing of the connections benchmark from the host's limits: the open-file limit the broker and
 * load processes get, how many idle sessions one broker process can then hold, how they are spread
 * over load processes and source addresses, and fleetgate's configuration for that size (documented
 * keys only: the HTTP listeners' caps are lowered so the MQTT cap fits the descriptor budget).
 */
import { FD_HEADROOM } from "../../src/domain/fd-budget.js";
import type { HostLimits } from "./host-limits.js";

/** Small HTTP caps for the bench's server: only the bench's own enrollments and admin calls use them. */
const HTTP_CAPS = { enroll: 128, pki: 16, admin: 16, metrics: 16 } as const;
/** Descriptors of a broker process besides sessions (listeners, logs, registry), with room to spare. */
const BROKER_SPARE = Object.values(HTTP_CAPS).reduce((a, b) => a + b, 0) + FD_HEADROOM + 64;
/** Sessions per load process and source address: well inside one address's ephemeral port range. */
const MAX_PER_LOADER = 12_500;

export interface ConnectionsPlan {
  readonly requested: number;
  /** The idle sessions the run holds: `requested`, unless the open-file limit cannot hold them. */
  readonly connections: number;
  /** Why `connections` < `requested` (null when equal). */
  readonly limitedBy: string | null;
  readonly openFileLimit: number;
  /** Whether `openFileLimit` is above this process's hard limit (needs CAP_SYS_RESOURCE). */
  readonly raised: boolean;
  readonly loaders: { count: number; addresses: string[]; perLoader: number[] };
  /** Connections open at once besides the fleet: admission probes (one at a time) and revocations. */
  readonly extra: number;
}

/** The open-file limit a run of `requested` sessions needs per broker process. */
export function neededOpenFiles(requested: number, extra: number): number {
  return requested + extra + BROKER_SPARE;
}

/** `granted`: the limit the children can get (host-limits.ts childOpenFileLimit). */
export function planConnections(
  requested: number,
  extra: number,
  limits: HostLimits,
  granted: { limit: number; raised: boolean },
): ConnectionsPlan {
  const { limit, raised } = granted;
  const wantedLimit = neededOpenFiles(requested, extra);
  const room = limit - BROKER_SPARE - extra;
  const connections = Math.max(0, Math.min(requested, room));
  const limitedBy =
    connections < requested
      ? `open-file limit ${limit} per process (RLIMIT_NOFILE hard ${limits.openFiles.hard ?? "unlimited"}, ` +
        `fs.nr_open ${limits.nrOpen ?? "?"}); ${wantedLimit} needed: one broker process cannot hold more than ` +
        `${room} sessions here. Raise the hard limit (root with CAP_SYS_RESOURCE, docker --ulimit nofile=…)`
      : null;
  const portsPerAddress = limits.ephemeralPorts ? limits.ephemeralPorts.high - limits.ephemeralPorts.low + 1 : 28_000;
  const perLoaderMax = Math.max(1, Math.min(MAX_PER_LOADER, limit - 256, portsPerAddress - 2000));
  const count = Math.max(2, Math.ceil(connections / perLoaderMax));
  const perLoader = Array.from({ length: count }, (_, i) => Math.floor((connections + i) / count));
  const addresses = Array.from({ length: count }, (_, i) => `127.0.0.${2 + i}`);
  return {
    requested,
    connections,
    limitedBy,
    openFileLimit: limit,
    raised,
    loaders: { count, addresses, perLoader },
    extra,
  };
}

/** fleetgate.json overrides for a plan: rate limits that never bind, the MQTT cap at the plan's size. */
export function serverConfig(plan: ConnectionsPlan): Record<string, unknown> {
  const unlimited = { perSecond: 1_000_000, burst: 1_000_000 };
  const listener = (maxConnections: number) => ({ host: "127.0.0.1", port: 0, maxConnections });
  return {
    enroll: { ...listener(HTTP_CAPS.enroll), rateLimit: { perAddress: unlimited, perToken: unlimited } },
    pki: listener(HTTP_CAPS.pki),
    admin: listener(HTTP_CAPS.admin),
    metrics: listener(HTTP_CAPS.metrics),
    mqtt: {
      host: "127.0.0.1",
      port: 0,
      maxConnections: plan.connections + plan.extra + 16,
      connectRatePerAddress: unlimited,
    },
  };
}
