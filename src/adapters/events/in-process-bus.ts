import type { Logger } from "../../logger.js";
import type { EventBus, FleetEvent, RevocationEvent, RevocationHandler, RevocationOutcome } from "../../ports.js";

/** The single-node event bus: handlers run at once, in the publishing process. */
export class InProcessEventBus implements EventBus {
  private readonly revocationHandlers: RevocationHandler[] = [];
  private readonly listeners = new Set<(event: FleetEvent) => void>();

  constructor(
    private readonly logger: Logger,
    private readonly nodeId: string,
  ) {}

  onRevocation(handler: RevocationHandler): void {
    this.revocationHandlers.push(handler);
  }

  /**
   * Handlers run in registration order, each awaited before the next (sessions close before the CRL
   * is re-signed); one that fails is logged and the others still run. The sessions they report closed
   * are this node's share of the outcome.
   */
  async publishRevocation(event: RevocationEvent): Promise<RevocationOutcome> {
    let closed = 0;
    for (const handler of this.revocationHandlers) {
      try {
        const result = await handler(event);
        if (typeof result === "number") closed += result;
      } catch (error) {
        this.logger.error({ err: error, deviceId: event.deviceId }, "revocation handler failed");
      }
    }
    return { sessionsClosed: closed, byNode: { [this.nodeId]: closed } };
  }

  publish(event: FleetEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.logger.error({ err: error, event: event.type }, "fleet event listener failed");
      }
    }
  }

  subscribe(listener: (event: FleetEvent) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }
}
