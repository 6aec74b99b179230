import type { Logger } from "../../logger.js";
import type { FleetEvent, RevocationEvent, RevocationHandler } from "../../ports.js";

const REMEMBERED = 10_000;

/**
 * This node's revocation handlers, run in registration order (sessions close before the CRL is
 * re-signed), each awaited; one that fails is logged and the others still run. Remembers which audit
 * entries it handled and what they closed, so a revocation heard over the bus and read back from the
 * registry runs once, and whichever path arrives second still reports the sessions the first closed.
 */
export class RevocationHandlers {
  private readonly handlers: RevocationHandler[] = [];
  private readonly handled = new Map<number, Promise<number>>();

  constructor(private readonly logger: Logger) {}

  add(handler: RevocationHandler): void {
    this.handlers.push(handler);
  }

  /**
   * Runs the handlers for a revocation and returns the sessions it closed on this node. A remote one
   * (heard over the bus or read from the registry feed) runs once per audit entry; whichever path comes
   * second gets the first one's count. A local one always runs — its handlers re-sign the CRL — and adds
   * what a feed replay that beat it closed. An entry without a sequence (a repeated revocation) always runs.
   */
  run(event: RevocationEvent, origin: "local" | "remote"): Promise<number> {
    const seq = event.auditSeq;
    if (seq === null) return this.runAll(event, origin);
    const earlier = this.handled.get(seq);
    if (origin === "remote" && earlier !== undefined) return earlier;
    const closed = this.runAll(event, origin).then(async (now) => now + ((await earlier) ?? 0));
    this.remember(seq, closed);
    return closed;
  }

  private async runAll(event: RevocationEvent, origin: "local" | "remote"): Promise<number> {
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

  private remember(seq: number, closed: Promise<number>): void {
    this.handled.set(seq, closed);
    if (this.handled.size > REMEMBERED) this.handled.delete(this.handled.keys().next().value!);
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
