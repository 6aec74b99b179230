import type { AdmissionDeps } from "../../app/authorize-client.js";
import type { AclConfig } from "../../domain/acl.js";
import type { RetainedLimits } from "../../domain/retained-quota.js";
import type { RateSpec } from "../../domain/token-bucket.js";
import type { Logger } from "../../logger.js";
import type { Metrics } from "../../metrics.js";
import type { FleetEvent } from "../../ports.js";
import type { HookOptions } from "./hooks.js";
import type { AedesPersistence } from "../shared/aedes-persistence.js";
import type { SessionTickets } from "../shared/ticket-keys.js";

export interface BrokerOptions {
  readonly nodeId: string;
  readonly host: string;
  readonly port: number;
  readonly tls: { readonly key: string; readonly cert: string | Buffer; readonly ca: readonly string[] };
  readonly handshakeTimeoutMs: number;
  /** Shared, rotated TLS session-ticket keys; without, Node's own (random per process, 300 s sessions). */
  readonly sessionTickets?: SessionTickets;
  readonly limits: {
    readonly maxConnections: number;
    readonly maxPending: number;
    readonly maxPendingPerAddress: number;
    readonly connectRatePerAddress: RateSpec;
    readonly maxPacketSize: number;
    readonly maxFiltersPerSubscribe: number;
    readonly maxSubscriptionsPerClient: number;
    readonly maxOutgoingQueue: number;
    readonly maxStoredQos2: { readonly messages: number; readonly bytes: number };
    readonly retained: { readonly maxTotalBytes: number; readonly limitsFor: (role: string) => RetainedLimits };
  };
  readonly publishRate: RateSpec;
  readonly onDeniedPublish: "disconnect" | "drop";
  readonly admission: AdmissionDeps;
  readonly acl: AclConfig;
  /** The store under the guards (memory by default; Redis in a cluster). */
  readonly persistence: AedesPersistence;
  /** The message fan-out (mqemitter by default; mqemitter-redis in a cluster). */
  readonly mq?: unknown;
  readonly onFleetEvent?: (event: FleetEvent) => void;
  /** Cluster mode: takeover across nodes by per-client-id lease numbers (src/adapters/redis/client-leases.ts). */
  readonly takeover?: HookOptions["takeover"];
  readonly logger: Logger;
  readonly metrics: Metrics;
}
