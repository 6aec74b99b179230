import type { Subscription } from "aedes";
import { Readable } from "node:stream";
import type {
  AedesPersistence,
  ClientRef,
  PersistenceClient,
  StoredPacket,
  StoredSubscription,
} from "../shared/aedes-persistence.js";
import { InboundQos2Ledger } from "./inbound-qos2-ledger.js";

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

/** What has been stored of one SUBSCRIBE's list, and the store about to run for it. */
interface SubscribeBatch {
  readonly stored: Set<string>;
  pending: Promise<void> | undefined;
}

/**
 * Aedes's persistence, wrapped (passed to Aedes as `opts.persistence`, the documented seam): every
 * guard on stored state sits here, so swapping memory for Redis persistence keeps all of them.
 *  - A SUBSCRIBE is persisted once, with only its granted filters. Aedes calls addSubscriptions once
 *    per granted filter with the whole list (n filters → n² work): the calls share one store.
 *  - Outgoing QoS 1/2 queues and stored incoming QoS 2 packets are bounded per client id, across
 *    reconnects (Aedes's own bound is per connection).
 *  - Dropped publishes are never stored (retained, queued or awaiting PUBREL); a refused client never
 *    cleans the state of the id it sent.
 */
export class GuardedPersistence implements AedesPersistence {
  private readonly subscribes = new WeakMap<readonly Subscription[], SubscribeBatch>();
  private readonly outgoing = new Map<string, number>();
  private readonly incoming: InboundQos2Ledger;

  constructor(
    private readonly inner: AedesPersistence,
    private readonly policy: PersistencePolicy,
  ) {
    this.incoming = new InboundQos2Ledger({
      messages: policy.limits.incomingQos2,
      bytes: policy.limits.incomingQos2Bytes,
    });
  }

  async setup(broker: unknown): Promise<void> {
    await this.inner.setup(broker);
  }

  /**
   * Aedes (lib/handlers/subscribe.js storeSubscriptions) calls this once per granted filter, each time
   * with the packet's whole list. It authorizes the filters in one synchronous loop (our
   * authorizeSubscribe answers at once), so the calls of one packet come in one turn: they share one
   * store, on the next microtask, of every filter granted by then. Should a filter be granted later
   * (an authorizer that answers asynchronously), its call starts another store of what is new since.
   */
  addSubscriptions(client: ClientRef, subs: Subscription[]): Promise<void> {
    let batch = this.subscribes.get(subs);
    if (batch === undefined) {
      batch = { stored: new Set(), pending: undefined };
      this.subscribes.set(subs, batch);
    }
    batch.pending ??= this.storeGranted(client, subs, batch);
    return batch.pending;
  }

  private async storeGranted(client: ClientRef, subs: readonly Subscription[], batch: SubscribeBatch): Promise<void> {
    await Promise.resolve();
    batch.pending = undefined;
    const fresh = this.policy.granted(client, subs).filter((sub) => !batch.stored.has(sub.topic));
    for (const sub of fresh) batch.stored.add(sub.topic);
    if (fresh.length > 0) await this.inner.addSubscriptions(client, fresh);
  }

  /**
   * Aedes queues a QoS 1/2 publish for every persistent subscription whose filter matches it, before any
   * authorizeForward: a dropped publish would take room in the queue of every `#` subscriber.
   */
  outgoingEnqueueCombi(subs: { clientId: string }[], packet: StoredPacket): Promise<void> {
    if (this.policy.isDropped(packet)) return Promise.resolve();
    const admitted = subs.filter((sub) => this.admitOutgoing(sub.clientId));
    return admitted.length > 0 ? this.inner.outgoingEnqueueCombi(admitted, packet) : Promise.resolve();
  }

  outgoingEnqueue(sub: { clientId: string }, packet: StoredPacket): Promise<void> {
    if (this.policy.isDropped(packet)) return Promise.resolve();
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

  /**
   * Within the client id's bound or refused (Aedes then closes the connection). The room is taken
   * before the store is awaited: Aedes handles a whole read's packets concurrently, and checking
   * against what had finished storing would let all of them past. A dropped publish is not stored,
   * only its id remembered (see incomingGetPacket).
   */
  async incomingStorePacket(client: ClientRef, packet: StoredPacket): Promise<void> {
    const id = packet.messageId ?? 0;
    const dropped = this.policy.isDropped(packet);
    const bytes = dropped ? 0 : payloadBytes(packet) + Buffer.byteLength(packet.topic);
    const room = this.incoming.reserve(client.id, id, bytes, dropped ? packet.topic : undefined);
    if (!room.ok) {
      this.policy.onLimit("qos2_store_full", client.id);
      throw new Error(`stored QoS 2 state of ${client.id} is at its limit`);
    }
    if (dropped) return;
    try {
      await this.inner.incomingStorePacket(client, packet);
    } catch (error) {
      this.incoming.undo(client.id, id, bytes, room.previous);
      throw error;
    }
    const { previous } = room;
    this.policy.onStoredQos2({ messages: previous === undefined ? 1 : 0, bytes: bytes - (previous ?? 0) });
  }

  /**
   * A dropped QoS 2 publish was acknowledged (PUBREC) but not stored. Aedes frees the connection's QoS 2
   * slot (maxInflightInbound) only for a PUBREL whose packet it finds, so the id is answered with a
   * placeholder: without it, 1,000 rate-dropped QoS 2 messages would close a well-behaved connection.
   */
  async incomingGetPacket(client: ClientRef, packet: StoredPacket): Promise<StoredPacket> {
    const topic = this.incoming.droppedTopic(client.id, packet.messageId ?? 0);
    if (topic === undefined) return this.inner.incomingGetPacket(client, packet);
    return { cmd: "publish", topic, payload: Buffer.alloc(0), qos: 2, messageId: packet.messageId };
  }

  async incomingDelPacket(client: ClientRef, packet: StoredPacket): Promise<void> {
    const id = packet.messageId ?? 0;
    if (this.incoming.releaseDropped(client.id, id)) return;
    await this.inner.incomingDelPacket(client, packet);
    const bytes = this.incoming.release(client.id, id);
    if (bytes !== undefined) this.policy.onStoredQos2({ messages: -1, bytes: -bytes });
  }

  async cleanIncoming(client: ClientRef): Promise<void> {
    if (!this.policy.ownsSession(client)) return;
    await this.inner.cleanIncoming?.(client);
    this.forgetIncoming(client.id);
  }

  private forgetIncoming(clientId: string): void {
    const held = this.incoming.forget(clientId);
    if (held) this.policy.onStoredQos2({ messages: -held.messages, bytes: -held.bytes });
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
