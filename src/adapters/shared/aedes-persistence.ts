import type { Client, Subscription } from "aedes";
import type { Readable } from "node:stream";

/**
 * The persistence interface Aedes 1.2 calls (promise style, as aedes-persistence's async classes and
 * aedes-persistence-redis implement it). Written out here because fleetgate wraps it
 * (src/adapters/mqtt/guarded-persistence.ts): whichever store is underneath — memory on one node, Redis in a cluster —
 * the same guards run in front of it.
 */
export interface StoredPacket {
  cmd?: string;
  topic: string;
  payload: Buffer | string;
  qos: 0 | 1 | 2;
  retain?: boolean;
  messageId?: number;
  brokerId?: string;
  brokerCounter?: number;
  clientId?: string;
}

export interface StoredSubscription {
  clientId: string;
  topic: string;
  qos?: number;
}

export interface ClientRef {
  readonly id: string;
  readonly brokerId?: string;
}

export interface AedesPersistence {
  setup(broker: unknown): Promise<void>;
  storeRetained(packet: StoredPacket): Promise<void>;
  createRetainedStream(pattern: string): Readable | AsyncIterable<unknown>;
  createRetainedStreamCombi(patterns: string[]): Readable | AsyncIterable<unknown>;
  addSubscriptions(client: ClientRef, subs: Subscription[]): Promise<void>;
  removeSubscriptions(client: ClientRef, topics: string[]): Promise<void>;
  subscriptionsByClient(client: ClientRef): Promise<Subscription[]>;
  countOffline(): Promise<{ subsCount: number; clientsCount: number }>;
  subscriptionsByTopic(pattern: string): Promise<StoredSubscription[]>;
  cleanSubscriptions(client: ClientRef): Promise<void>;
  outgoingEnqueue(sub: { clientId: string }, packet: StoredPacket): Promise<void>;
  outgoingEnqueueCombi(subs: { clientId: string }[], packet: StoredPacket): Promise<void>;
  outgoingUpdate(client: ClientRef, packet: StoredPacket): Promise<void>;
  outgoingClearMessageId(client: ClientRef, packet: StoredPacket): Promise<StoredPacket | undefined>;
  outgoingStream(client: ClientRef): Readable | AsyncIterable<unknown>;
  incomingStorePacket(client: ClientRef, packet: StoredPacket): Promise<void>;
  incomingGetPacket(client: ClientRef, packet: StoredPacket): Promise<StoredPacket>;
  incomingDelPacket(client: ClientRef, packet: StoredPacket): Promise<void>;
  cleanIncoming?(client: ClientRef): Promise<void>;
  putWill(client: ClientRef, packet: StoredPacket): Promise<void>;
  getWill(client: ClientRef): Promise<StoredPacket | undefined>;
  delWill(client: ClientRef): Promise<StoredPacket | undefined>;
  streamWill(brokers?: Record<string, number>): Readable | AsyncIterable<unknown>;
  getClientList(topic: string): Readable | AsyncIterable<unknown>;
  destroy(): Promise<void>;
}

/** What Aedes hands the persistence as `client`: its Client object (or a `{ id }` reference). */
export type PersistenceClient = ClientRef | Client;
