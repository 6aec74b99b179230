/**
 * Retained messages are kept for ever and sent to every new subscriber, so each device gets a quota:
 * how many topics it may keep a retained message on, how many bytes in all, and a total for the
 * broker. A retained publish over quota is still delivered to current subscribers, but not kept.
 * Pure accounting: the broker tells it what was stored or cleared and asks before storing.
 */
export interface RetainedLimits {
  /** Retained topics per device; 0 = this role may not retain at all. */
  readonly maxPerDevice: number;
  readonly maxBytesPerDevice: number;
}

export type RetainedVerdict =
  "ok" | "retain_disabled" | "device_message_limit" | "device_byte_limit" | "total_byte_limit";

interface Entry {
  readonly owner: string;
  readonly bytes: number;
}

export class RetainedQuota {
  private readonly byTopic = new Map<string, Entry>();
  private readonly byOwner = new Map<string, { topics: Set<string>; bytes: number }>();
  private total = 0;

  constructor(private readonly maxTotalBytes: number) {}

  /** May `owner` keep `bytes` retained on `topic` (replacing what is there)? An empty payload clears. */
  check(owner: string, topic: string, bytes: number, limits: RetainedLimits): RetainedVerdict {
    if (bytes === 0) return "ok";
    if (limits.maxPerDevice === 0) return "retain_disabled";
    const previous = this.byTopic.get(topic);
    const mine = this.byOwner.get(owner);
    const replacingOwn = previous?.owner === owner ? previous.bytes : 0;
    const count = (mine?.topics.size ?? 0) + (previous?.owner === owner ? 0 : 1);
    if (count > limits.maxPerDevice) return "device_message_limit";
    if ((mine?.bytes ?? 0) - replacingOwn + bytes > limits.maxBytesPerDevice) return "device_byte_limit";
    if (this.total - (previous?.bytes ?? 0) + bytes > this.maxTotalBytes) return "total_byte_limit";
    return "ok";
  }

  /** Records what is now retained on `topic` (bytes 0: nothing). */
  record(owner: string, topic: string, bytes: number): void {
    this.forget(topic);
    if (bytes === 0) return;
    this.byTopic.set(topic, { owner, bytes });
    const mine = this.byOwner.get(owner) ?? { topics: new Set<string>(), bytes: 0 };
    mine.topics.add(topic);
    mine.bytes += bytes;
    this.byOwner.set(owner, mine);
    this.total += bytes;
  }

  /** The topics `owner` holds retained messages on, forgotten at once (a revoked device). */
  release(owner: string): string[] {
    const topics = [...(this.byOwner.get(owner)?.topics ?? [])];
    for (const topic of topics) this.forget(topic);
    return topics;
  }

  get totalBytes(): number {
    return this.total;
  }

  get messages(): number {
    return this.byTopic.size;
  }

  private forget(topic: string): void {
    const entry = this.byTopic.get(topic);
    if (entry === undefined) return;
    this.byTopic.delete(topic);
    this.total -= entry.bytes;
    const mine = this.byOwner.get(entry.owner);
    if (mine === undefined) return;
    mine.topics.delete(topic);
    mine.bytes -= entry.bytes;
    if (mine.topics.size === 0) this.byOwner.delete(entry.owner);
  }
}
