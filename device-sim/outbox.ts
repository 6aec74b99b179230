/** One telemetry message: its sequence number and the bytes that go on the wire, every time. */
export interface OutgoingMessage {
  readonly seq: number;
  readonly payload: string;
}

/**
 * A device's telemetry between sampling and the broker's PUBACK. A message leaves only when it is
 * acknowledged: when a connection drops, whatever was in flight goes back to the front of the
 * queue and is sent again on the next connection, so the sequence never skips a number.
 */
export class Outbox {
  private lastSeq = 0;
  private readonly queued: OutgoingMessage[] = [];
  private readonly inFlight = new Map<number, OutgoingMessage>();
  private drainWaiters: Array<() => void> = [];

  /** `capacity` bounds what a disconnected device buffers; past it, readings are not taken. */
  constructor(readonly capacity = 10_000) {}

  get highestSeq(): number {
    return this.lastSeq;
  }

  get pending(): number {
    return this.queued.length + this.inFlight.size;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Takes a reading with the next sequence number; false (no number used) when full. */
  add(build: (seq: number) => string): boolean {
    if (this.pending >= this.capacity) return false;
    const seq = ++this.lastSeq;
    this.queued.push({ seq, payload: build(seq) });
    return true;
  }

  /** The next message to send while fewer than `window` are unacknowledged, else null. */
  next(window: number): OutgoingMessage | null {
    if (this.inFlight.size >= window) return null;
    const message = this.queued.shift();
    if (!message) return null;
    this.inFlight.set(message.seq, message);
    return message;
  }

  ack(seq: number): void {
    if (!this.inFlight.delete(seq)) return;
    if (this.inFlight.size === 0) this.wakeDrainWaiters();
  }

  /** The connection is gone: unacknowledged messages go first in line again, in order. */
  requeueInFlight(): void {
    const resend = [...this.inFlight.values()].sort((a, b) => a.seq - b.seq);
    this.inFlight.clear();
    this.queued.unshift(...resend);
    this.wakeDrainWaiters();
  }

  /** Resolves when nothing is in flight (requeueing counts: the connection will not ack it). */
  whenInFlightEmpty(): Promise<void> {
    if (this.inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Sequence numbers never acknowledged: queued or still in flight. */
  unacknowledged(): number[] {
    return [...this.inFlight.keys(), ...this.queued.map((m) => m.seq)].sort((a, b) => a - b);
  }

  private wakeDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const wake of waiters) wake();
  }
}
