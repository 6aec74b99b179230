import type { AuditEntry, EventBus, Registry, RevocationEvent } from "../ports.js";

const PAGE = 100;

/** A `device.revoked` audit entry as the revocation it records (written in the same unit of work). */
export function revocationOf(entry: AuditEntry): RevocationEvent {
  const details = entry.details as { reason?: unknown; serials?: unknown };
  return {
    deviceId: entry.subject ?? "",
    reason: typeof details.reason === "string" ? details.reason : "unspecified",
    serials: Array.isArray(details.serials) ? details.serials.filter((s): s is string => typeof s === "string") : [],
    at: entry.at,
    auditSeq: entry.seq,
  };
}

/**
 * Every node's catch-up on revocations: the registry is the source of truth, the cluster bus only the
 * fast path. The feed reads the `device.revoked` entries after the last one it saw and replays each on
 * this node's handlers (the bus skips those it already handled), so a node that missed the fan-out — a
 * Redis blip, a restart of Redis — still kicks, within one polling interval.
 */
export class RevocationFeed {
  private last: number;

  constructor(
    private readonly deps: { readonly registry: Pick<Registry, "listAudit">; readonly bus: Pick<EventBus, "replay"> },
    startAfterSeq: number,
  ) {
    this.last = startAfterSeq;
  }

  /** Replays what is new; returns how many revocations it read. */
  async poll(): Promise<number> {
    let read = 0;
    for (;;) {
      const page = await this.deps.registry.listAudit({ afterSeq: this.last, limit: PAGE, action: "device.revoked" });
      for (const entry of page) {
        await this.deps.bus.replay(revocationOf(entry));
        this.last = entry.seq;
      }
      read += page.length;
      if (page.length < PAGE) return read;
    }
  }

  get position(): number {
    return this.last;
  }
}
