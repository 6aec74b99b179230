import type { Logger } from "../../logger.js";
import type { EventBus, FleetEvent, RevocationEvent, RevocationHandler, RevocationOutcome } from "../../ports.js";
import { FleetListeners, RevocationHandlers } from "../shared/revocation-handlers.js";

/** The single-node event bus: handlers run at once, in the publishing process. */
export class InProcessEventBus implements EventBus {
  private readonly revocations: RevocationHandlers;
  private readonly listeners: FleetListeners;

  constructor(
    logger: Logger,
    private readonly nodeId: string,
  ) {
    this.revocations = new RevocationHandlers(logger);
    this.listeners = new FleetListeners(logger);
  }

  onRevocation(handler: RevocationHandler): void {
    this.revocations.add(handler);
  }

  /** The sessions this node's handlers report closed are the whole outcome: there is no other node. */
  async publishRevocation(event: RevocationEvent): Promise<RevocationOutcome> {
    const closed = await this.revocations.run(event, "local");
    return { sessionsClosed: closed, byNode: { [this.nodeId]: closed }, unanswered: [] };
  }

  async replay(event: RevocationEvent): Promise<void> {
    await this.revocations.run(event, "remote");
  }

  publish(event: FleetEvent): void {
    this.listeners.deliver(event);
  }

  subscribe(listener: (event: FleetEvent) => void): () => void {
    return this.listeners.add(listener);
  }
}
