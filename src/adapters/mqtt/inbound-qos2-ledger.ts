/** One client id's inbound QoS 2 messages awaiting PUBREL: bytes by message id, and dropped ids (topic). */
interface ClientEntry {
  readonly bytes: Map<number, number>;
  total: number;
  readonly dropped: Map<number, string>;
}

export type Reservation = { readonly ok: false } | { readonly ok: true; readonly previous: number | undefined };

/**
 * The room each client id's inbound QoS 2 state takes (mqtt.maxStoredQos2), across reconnects. Room is
 * taken before the store is awaited and given back if it fails. A dropped publish is remembered by id
 * only: it takes a message's room and no bytes.
 */
export class InboundQos2Ledger {
  private readonly clients = new Map<string, ClientEntry>();

  constructor(private readonly limits: { readonly messages: number; readonly bytes: number }) {}

  /** Room for `bytes` under message `id` (a retransmission replaces its own), or `ok: false` past the bound. */
  reserve(clientId: string, id: number, bytes: number, droppedTopic?: string): Reservation {
    const entry = this.entryOf(clientId);
    const previous = entry.bytes.get(id);
    const isNew = previous === undefined && !entry.dropped.has(id);
    const tooMany = isNew && entry.bytes.size + entry.dropped.size >= this.limits.messages;
    if (tooMany || entry.total - (previous ?? 0) + bytes > this.limits.bytes) {
      this.dropIfEmpty(clientId, entry);
      return { ok: false };
    }
    if (droppedTopic !== undefined) {
      if (previous === undefined) entry.dropped.set(id, droppedTopic);
      return { ok: true, previous };
    }
    entry.bytes.set(id, bytes);
    entry.total += bytes - (previous ?? 0);
    return { ok: true, previous };
  }

  /** Gives back a reservation whose store failed. */
  undo(clientId: string, id: number, bytes: number, previous: number | undefined): void {
    const entry = this.entryOf(clientId);
    if (previous === undefined) entry.bytes.delete(id);
    else entry.bytes.set(id, previous);
    entry.total -= bytes - (previous ?? 0);
    this.dropIfEmpty(clientId, entry);
  }

  droppedTopic(clientId: string, id: number): string | undefined {
    return this.clients.get(clientId)?.dropped.get(id);
  }

  /** A PUBREL for a dropped id: true if it was one. */
  releaseDropped(clientId: string, id: number): boolean {
    const entry = this.clients.get(clientId);
    if (!entry?.dropped.delete(id)) return false;
    this.dropIfEmpty(clientId, entry);
    return true;
  }

  /** A PUBREL for a stored message: the bytes it held, or undefined if it was not held. */
  release(clientId: string, id: number): number | undefined {
    const entry = this.clients.get(clientId);
    const bytes = entry?.bytes.get(id);
    if (entry === undefined || bytes === undefined) return undefined;
    entry.bytes.delete(id);
    entry.total -= bytes;
    this.dropIfEmpty(clientId, entry);
    return bytes;
  }

  /** The client id's state is gone (clean session, revocation): what it held. */
  forget(clientId: string): { readonly messages: number; readonly bytes: number } | undefined {
    const entry = this.clients.get(clientId);
    if (entry === undefined) return undefined;
    this.clients.delete(clientId);
    return { messages: entry.bytes.size, bytes: entry.total };
  }

  private entryOf(clientId: string): ClientEntry {
    let entry = this.clients.get(clientId);
    if (entry === undefined) {
      entry = { bytes: new Map(), total: 0, dropped: new Map() };
      this.clients.set(clientId, entry);
    }
    return entry;
  }

  private dropIfEmpty(clientId: string, entry: ClientEntry): void {
    if (entry.bytes.size === 0 && entry.dropped.size === 0) this.clients.delete(clientId);
  }
}
