import type { Subscription } from "aedes";
import { Readable } from "node:stream";
import type {
  AedesPersistence,
  ClientRef,
  PersistenceClient,
  StoredPacket,
  StoredSubscription,
} from "../shared/aedes-persistence.js";

/** The decisions the wrapper asks for; it decides nothing itself (hooks.ts and limits.ts do). */
export interface PersistencePolicy {
  /** The filters of one SUBSCRIBE this client was granted (denied ones are never persisted). */
  granted(client: PersistenceClient, subscriptions: readonly Subscription[]): Subscription[];
  /** False for a client that was refused (it must not touch the session state of the id it asked for). */
  ownsSession(client: PersistenceClient): boolean;
  /** A publish that was dropped (rate limit, denial): acknowledged, stored and delivered nowhere. */
  isDropped(packet: StoredPacket): boolean;
  /** Stored state per client id. */
  readonly limits: {
    readonly outgoingQueue: number;
    readonly incomingQos2: number;
    readonly incomingQos2Bytes: number;
  };
  onLimit(reason: "outgoing_queue_full" | "qos2_store_full", clientId: string): void;
  onStoredQos2(delta: { readonly messages: number; readonly bytes: number }): void;
}

/**
 * Aedes pipes what these return, while the promise-style persistences return a Readable (memory) or an
 * async iterable (Redis); aedes-persistence's callback layer converts the same way.
 */
function readable(source: Readable | AsyncIterable<unknown>): Readable {
  return source instanceof Readable ? source : Readable.from(source);
}

const payloadBytes = (packet: StoredPacket): number =>
  typeof packet.payload === "string" ? Buffer.byteLength(packet.payload) : packet.payload.length;

/**
 * Aedes's persistence, wrapped (passed to Aedes as `opts.persistence`, the documented seam): every
 * guard on stored state sits here, so swapping memory for Redis persistence keeps all of them.
 *  - A SUBSCRIBE is persisted once, with only its granted filters. Aedes calls addSubscriptions once
 *    per filter with the whole list (n filters → n² work); the first call of a list does it, the
 *    others share its promise.
 *  - Outgoing QoS 1/2 queues and stored incoming QoS 2 packets are bounded per client id, across
 *    reconnects (Aedes's own bound is per connection).
 *  - Dropped publishes are never stored; a refused client never cleans the state of the id it sent.
 */
export class GuardedPersistence implements AedesPersistence {
  private readonly pendingSubscribes = new WeakMap<readonly Subscription[], Promise<void>>();
  private readonly outgoing = new Map<string, number>();
  private readonly incoming = new Map<string, Map<number, number>>();

  constructor(
    private readonly inner: AedesPersistence,
    private readonly policy: PersistencePolicy,
  ) {}

  async setup(broker: unknown): Promise<void> {
    await this.inner.setup(broker);
  }

  /**
   * Aedes authorizes a SUBSCRIBE's filters in one synchronous loop (our authorizeSubscribe answers at
   * once) and calls this from inside it, after each filter; storing on the next microtask sees every
   * grant of the packet. A filter granted later than that would only be missing from storage: safe.
   */
  addSubscriptions(client: ClientRef, subs: Subscription[]): Promise<void> {
    let stored = this.pendingSubscribes.get(subs);
    if (stored === undefined) {
      stored = Promise.resolve().then(() => {
        const granted = this.policy.granted(client, subs);
        return granted.length > 0 ? this.inner.addSubscriptions(client, granted) : undefined;
      });
      this.pendingSubscribes.set(subs, stored);
    }
    return stored;
  }

  outgoingEnqueueCombi(subs: { clientId: string }[], packet: StoredPacket): Promise<void> {
    const admitted = subs.filter((sub) => this.admitOutgoing(sub.clientId));
    return admitted.length > 0 ? this.inner.outgoingEnqueueCombi(admitted, packet) : Promise.resolve();
  }

  outgoingEnqueue(sub: { clientId: string }, packet: StoredPacket): Promise<void> {
    return this.admitOutgoing(sub.clientId) ? this.inner.outgoingEnqueue(sub, packet) : Promise.resolve();
  }

  private admitOutgoing(clientId: string): boolean {
    const count = this.outgoing.get(clientId) ?? 0;
    if (count >= this.policy.limits.outgoingQueue) {
      this.policy.onLimit("outgoing_queue_full", clientId);
      return false;
    }
    this.outgoing.set(clientId, count + 1);
    return true;
  }

  async outgoingClearMessageId(client: ClientRef, packet: StoredPacket): Promise<StoredPacket | undefined> {
    const cleared = await this.inner.outgoingClearMessageId(client, packet);
    const count = this.outgoing.get(client.id) ?? 0;
    if (cleared && count > 1) this.outgoing.set(client.id, count - 1);
    else if (cleared) this.outgoing.delete(client.id);
    return cleared;
  }

  async incomingStorePacket(client: ClientRef, packet: StoredPacket): Promise<void> {
    if (this.policy.isDropped(packet)) return;
    const stored = this.incoming.get(client.id) ?? new Map<number, number>();
    const id = packet.messageId ?? 0;
    const bytes = payloadBytes(packet) + Buffer.byteLength(packet.topic);
    const total = [...stored.values()].reduce((sum, b) => sum + b, 0) - (stored.get(id) ?? 0);
    const { incomingQos2, incomingQos2Bytes } = this.policy.limits;
    if ((!stored.has(id) && stored.size >= incomingQos2) || total + bytes > incomingQos2Bytes) {
      this.policy.onLimit("qos2_store_full", client.id);
      throw new Error(`stored QoS 2 state of ${client.id} is at its limit`);
    }
    await this.inner.incomingStorePacket(client, packet);
    this.policy.onStoredQos2({ messages: stored.has(id) ? 0 : 1, bytes: bytes - (stored.get(id) ?? 0) });
    stored.set(id, bytes);
    this.incoming.set(client.id, stored);
  }

  async incomingDelPacket(client: ClientRef, packet: StoredPacket): Promise<void> {
    await this.inner.incomingDelPacket(client, packet);
    const stored = this.incoming.get(client.id);
    const bytes = stored?.get(packet.messageId ?? 0);
    if (stored === undefined || bytes === undefined) return;
    stored.delete(packet.messageId ?? 0);
    if (stored.size === 0) this.incoming.delete(client.id);
    this.policy.onStoredQos2({ messages: -1, bytes: -bytes });
  }

  async cleanIncoming(client: ClientRef): Promise<void> {
    if (!this.policy.ownsSession(client)) return;
    await this.inner.cleanIncoming?.(client);
    this.forgetIncoming(client.id);
  }

  private forgetIncoming(clientId: string): void {
    const stored = this.incoming.get(clientId);
    if (stored === undefined) return;
    this.incoming.delete(clientId);
    const bytes = [...stored.values()].reduce((sum, b) => sum + b, 0);
    this.policy.onStoredQos2({ messages: -stored.size, bytes: -bytes });
  }

  async storeRetained(packet: StoredPacket): Promise<void> {
    if (!this.policy.isDropped(packet)) await this.inner.storeRetained(packet);
  }

  /** Everything a discarded session leaves behind (a revocation): subscriptions, queues, will. */
  async discardSession(client: ClientRef): Promise<void> {
    await this.inner.cleanSubscriptions(client);
    await this.inner.delWill(client).catch(() => undefined);
    await this.inner.cleanIncoming?.(client);
    this.forgetIncoming(client.id);
    for await (const packet of this.inner.outgoingStream(client))
      await this.outgoingClearMessageId(client, packet as StoredPacket);
    this.outgoing.delete(client.id);
  }

  // ── Plain delegation ──────────────────────────────────────────────────────────────────────────
  createRetainedStream(pattern: string): Readable {
    return readable(this.inner.createRetainedStream(pattern));
  }
  createRetainedStreamCombi(patterns: string[]): Readable {
    return readable(this.inner.createRetainedStreamCombi(patterns));
  }
  removeSubscriptions(client: ClientRef, topics: string[]): Promise<void> {
    return this.inner.removeSubscriptions(client, topics);
  }
  subscriptionsByClient(client: ClientRef): Promise<Subscription[]> {
    return this.inner.subscriptionsByClient(client);
  }
  countOffline(): Promise<{ subsCount: number; clientsCount: number }> {
    return this.inner.countOffline();
  }
  subscriptionsByTopic(pattern: string): Promise<StoredSubscription[]> {
    return this.inner.subscriptionsByTopic(pattern);
  }
  cleanSubscriptions(client: ClientRef): Promise<void> {
    return this.inner.cleanSubscriptions(client);
  }
  outgoingUpdate(client: ClientRef, packet: StoredPacket): Promise<void> {
    return this.inner.outgoingUpdate(client, packet);
  }
  outgoingStream(client: ClientRef): Readable {
    return readable(this.inner.outgoingStream(client));
  }
  incomingGetPacket(client: ClientRef, packet: StoredPacket): Promise<StoredPacket> {
    return this.inner.incomingGetPacket(client, packet);
  }
  putWill(client: ClientRef, packet: StoredPacket): Promise<void> {
    return this.inner.putWill(client, packet);
  }
  getWill(client: ClientRef): Promise<StoredPacket | undefined> {
    return this.inner.getWill(client);
  }
  delWill(client: ClientRef): Promise<StoredPacket | undefined> {
    return this.inner.delWill(client);
  }
  streamWill(brokers?: Record<string, number>): Readable {
    return readable(this.inner.streamWill(brokers));
  }
  getClientList(topic: string): Readable {
    return readable(this.inner.getClientList(topic));
  }
  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}
