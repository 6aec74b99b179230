import type { EventEmitter } from "node:events";
import type { Redis } from "ioredis";
import AsyncRedisPersistence from "aedes-persistence-redis/asyncPersistence.js";
import { MQEmitterRedisPrefix } from "mqemitter-redis/mqemitter-redis.js";
import type { AedesPersistence } from "../shared/aedes-persistence.js";
import { key, type RedisTarget } from "./connection.js";

/** The emitter interface Aedes calls (`mq`), plus mqemitter-redis's connection-state events. */
export interface ClusterEmitter {
  on(topic: string, listener: (packet: { topic: string }, done: () => void) => void, done?: () => void): unknown;
  removeListener(
    topic: string,
    listener: (packet: { topic: string }, done: () => void) => void,
    done?: () => void,
  ): void;
  emit(packet: { topic: string }, done?: (error?: Error) => void): void;
  close(done: () => void): void;
  readonly state: EventEmitter;
}

/** Aedes's cross-node takeover announcement; fleetgate's client-id leases do that job instead. */
const AEDES_TAKEOVER_TOPIC = "$SYS/+/new/clients";

/**
 * Aedes's shared MQTT state in Redis: mqemitter-redis fans every message out to all nodes (channels
 * prefixed — pub/sub ignores both DB numbers and ioredis keyPrefix), aedes-persistence-redis keeps
 * retained messages, persistent sessions and QoS 1/2 queues (keys prefixed through ioredis).
 *
 * Two adaptations, both through the documented `mq` option:
 *  - dropped publishes (isDropped) never leave the node: delivered nowhere, they need not cross Redis;
 *  - Aedes's own cross-node takeover subscription is not made. It closes the local client on every
 *    "new client" announcement, so two racing connects drop both; the leases in client-leases.ts
 *    decide the one survivor instead (tested in test/adapters/redis: if an Aedes upgrade renames the
 *    topic, that test fails).
 *
 * The commands are never dropped while Redis is away (maxRetriesPerRequest null): Aedes acknowledges
 * a QoS 1 PUBLISH before storing it, so dropping the store would lose an acknowledged message.
 */
export function clusterMqttStore(
  base: Redis,
  target: Pick<RedisTarget, "keyPrefix">,
  isDropped: (packet: { topic: string }) => boolean,
  onError: (error: unknown) => void,
): { mq: ClusterEmitter; persistence: AedesPersistence; connections: Redis[] } {
  const never = { maxRetriesPerRequest: null, enableOfflineQueue: true };
  const subConn = base.duplicate({ ...never, connectionName: "fleetgate-mq-sub" });
  const pubConn = base.duplicate({ ...never, connectionName: "fleetgate-mq-pub" });
  const store = base.duplicate({ ...never, connectionName: "fleetgate-store", keyPrefix: `${key(target, "mqtt")}:` });
  // ioredis reports connection errors as events; the nodes' health check and log say what is wrong.
  for (const connection of [subConn, pubConn, store]) connection.on("error", onError);
  const emitter = new MQEmitterRedisPrefix(`${key(target, "mqtt")}:`, {
    subConn,
    pubConn,
    matchEmptyLevels: true, // Aedes's default emitter matches "a//b" with "a/+/b" [MQTT-4.7.1-3]
    concurrency: 100,
  }) as ClusterEmitter;
  // mqemitter-redis re-emits every connection error here; unheard, it would crash the process.
  emitter.state.on("error", onError);
  const mq = guardedEmitter(emitter, isDropped);
  const persistence = new AsyncRedisPersistence({ conn: store }) as AedesPersistence;
  return { mq, persistence, connections: [subConn, pubConn, store] };
}

function guardedEmitter(inner: ClusterEmitter, isDropped: (packet: { topic: string }) => boolean): ClusterEmitter {
  return {
    state: inner.state,
    on: (topic, listener, done) => {
      if (topic !== AEDES_TAKEOVER_TOPIC) return inner.on(topic, listener, done);
      if (done) setImmediate(done);
      return undefined;
    },
    removeListener: (topic, listener, done) => inner.removeListener(topic, listener, done),
    emit: (packet, done) => (isDropped(packet) ? done && setImmediate(done) : inner.emit(packet, done)),
    close: (done) => inner.close(done),
  };
}
