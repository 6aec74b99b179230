import type { Logger } from "../../logger.js";
import type { FleetEvent, RevocationEvent, RevocationHandler } from "../../ports.js";

const REMEMBERED = 10_000;

/**
 * This node's revocation handlers, run in registration order (sessions close before the CRL is
 * re-signed), each awaited; one that fails is logged and the others still run. Remembers which audit
 * entries it handled, so a revocation heard over the bus and read back from the registry runs once.
 */
export class RevocationHandlers {
  private readonly handlers: RevocationHandler[] = [];
  private readonly handled = new Set<number>();

  constructor(private readonly logger: Logger) {}

  add(handler: RevocationHandler): void {
    this.handlers.push(handler);
  }

  /** Whether this node already ran its handlers for that audit entry. */
  seen(auditSeq: number | null): boolean {
    return auditSeq !== null && this.handled.has(auditSeq);
  }

  /** Runs every handler; returns the sessions they report closed. */
  async run(event: RevocationEvent, origin: "local" | "remote"): Promise<number> {
    if (event.auditSeq !== null) this.remember(event.auditSeq);
    let closed = 0;
    for (const handler of this.handlers) {
      try {
        const result = await handler(event, origin);
        if (typeof result === "number") closed += result;
      } catch (error) {
        this.logger.error({ err: error, deviceId: event.deviceId, origin }, "revocation handler failed");
      }
    }
    return closed;
  }

  private remember(seq: number): void {
    this.handled.add(seq);
    if (this.handled.size > REMEMBERED) this.handled.delete(this.handled.values().next().value!);
  }
}

/** Live-view listeners on this node; one that throws is logged and the others still hear the event. */
export class FleetListeners {
  private readonly listeners = new Set<(event: FleetEvent) => void>();

  constructor(private readonly logger: Logger) {}

  add(listener: (event: FleetEvent) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  deliver(event: FleetEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.logger.error({ err: error, event: event.type }, "fleet event listener failed");
      }
    }
  }
}
