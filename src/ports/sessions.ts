// Ports: live sessions and events.

export interface LiveSession {
  readonly deviceId: string;
  readonly serial: string;
  readonly address: string | null;
  readonly connectedAt: number;
  /** The node holding the connection (cluster mode), or this node's id. */
  readonly node: string;
}

/** Who is online, where and since when (cluster-wide in cluster mode). */
export interface SessionDirectory {
  sessionsOf(deviceId: string): Promise<LiveSession[]>;
  /** Ids of devices online now, sorted, after `after`, at most `limit`. */
  onlineDeviceIds(options: { readonly after?: string; readonly limit: number }): Promise<string[]>;
  countOnline(): Promise<number>;
}

/** Closes this node's live sessions of a device and discards its persistent state; returns how many closed. */
export interface SessionKicker {
  kick(deviceId: string, reason: string): Promise<number>;
}

/** A device was revoked (durably, before this is published). */
export interface RevocationEvent {
  readonly deviceId: string;
  readonly reason: string;
  readonly serials: readonly string[];
  readonly at: number;
  /** The `device.revoked` audit entry written with it (null when the device was already revoked). */
  readonly auditSeq: number | null;
}

/** What the nodes did about one revocation: sessions actually closed, per node. */
export interface RevocationOutcome {
  readonly sessionsClosed: number;
  readonly byNode: Readonly<Record<string, number>>;
  /** Live nodes that did not answer in time; each catches up from the registry (within seconds). */
  readonly unanswered: readonly string[];
}

/**
 * A handler's share of a revocation: the sessions it closed (a kicker), or nothing (the CRL publisher).
 * `origin` says whether this node committed the revocation ("local") or heard of it ("remote": over the
 * cluster bus, or replayed from the registry's revocation feed).
 */
export type RevocationHandler = (
  event: RevocationEvent,
  origin: "local" | "remote",
) => Promise<number | void> | number | void;

/** What an operator's live view shows; lossy by nature (a missed one is only a stale screen). */
export type FleetEvent =
  | { readonly type: "session.opened"; readonly deviceId: string; readonly node: string; readonly at: number }
  | { readonly type: "session.closed"; readonly deviceId: string; readonly node: string; readonly at: number }
  | { readonly type: "device.enrolled"; readonly deviceId: string; readonly serial: string; readonly at: number }
  | { readonly type: "device.renewed"; readonly deviceId: string; readonly serial: string; readonly at: number }
  | { readonly type: "device.revoked"; readonly deviceId: string; readonly reason: string; readonly at: number }
  | { readonly type: "device.reset"; readonly deviceId: string; readonly at: number }
  /** A node reloaded pki/ for an operator (cluster mode: the other nodes reload theirs too). */
  | { readonly type: "pki.reloaded"; readonly node: string; readonly activeCa: string; readonly at: number };

/**
 * Fans revocations out to every node's handlers and brings their results back to the caller; carries
 * fleet events for live views. In-process by default; cluster mode carries both over Redis, and each
 * node also catches up on revocations from the registry (a revocation must never be lost).
 */
export interface EventBus {
  publishRevocation(event: RevocationEvent): Promise<RevocationOutcome>;
  onRevocation(handler: RevocationHandler): void;
  /**
   * Runs this node's handlers for a revocation read back from the registry, unless this node already
   * handled it (by auditSeq): how a node that missed the fan-out still kicks.
   */
  replay(event: RevocationEvent): Promise<void>;
  publish(event: FleetEvent): void;
  /** Returns the function that unsubscribes. */
  subscribe(handler: (event: FleetEvent) => void): () => void;
}
