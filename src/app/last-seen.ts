import type { Clock, Registry } from "../ports.js";

/**
 * `lastSeenAt`: when a session of the device last opened or closed. Recorded in batches (one unit of
 * work per flush, default every 30 s) rather than one write per connection: a power-on storm of
 * thousands of devices costs one transaction, not thousands. Online devices are "seen now" anyway.
 */
export class LastSeen {
  private pending = new Set<string>();

  constructor(
    private readonly registry: Registry,
    private readonly clock: Clock,
  ) {}

  note(deviceId: string): void {
    this.pending.add(deviceId);
  }

  async flush(): Promise<number> {
    if (this.pending.size === 0) return 0;
    const ids = [...this.pending];
    this.pending = new Set();
    await this.registry.transact((tx) => tx.touchDevices(ids, this.clock.now()));
    return ids.length;
  }
}
