import type { Logger } from "../../logger.js";
import type { EventBus, RevocationEvent } from "../../ports.js";

/** The single-node event bus: handlers run at once, in the publishing process. */
export class InProcessEventBus implements EventBus {
  private readonly handlers: ((event: RevocationEvent) => Promise<unknown> | unknown)[] = [];

  constructor(private readonly logger: Logger) {}

  onRevocation(handler: (event: RevocationEvent) => Promise<unknown> | unknown): void {
    this.handlers.push(handler);
  }

  /** Every handler runs even if another fails; a failure is logged, never swallowed silently. */
  async publishRevocation(event: RevocationEvent): Promise<void> {
    const results = await Promise.allSettled(this.handlers.map(async (handler) => handler(event)));
    for (const result of results) {
      if (result.status === "rejected")
        this.logger.error({ err: result.reason, deviceId: event.deviceId }, "revocation handler failed");
    }
  }
}
