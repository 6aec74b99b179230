import type { Redis } from "ioredis";
import { RevocationFeed } from "../app/revocation-feed.js";
import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import type { Registry } from "../ports.js";
import { isDroppedPublish } from "../adapters/mqtt/hooks.js";
import type { MqttGateway } from "../adapters/mqtt/broker.js";
import { ClientLeases } from "../adapters/redis/client-leases.js";
import { ClusterSessionDirectory } from "../adapters/redis/cluster-sessions.js";
import { connectRedis, ready, type RedisTarget } from "../adapters/redis/connection.js";
import { NodeMembership } from "../adapters/redis/membership.js";
import { clusterMqttStore } from "../adapters/redis/mqtt-store.js";
import { RedisEventBus } from "../adapters/redis/redis-bus.js";

/** How often every node reads the registry's revocation feed (a missed fan-out is caught within this). */
const FEED_POLL_MS = 1000;
const PING_TIMEOUT_MS = 250;

/**
 * Cluster mode's Redis side, made before the broker (the broker needs its persistence, emitter and
 * takeover) and attached to it after (the directory mirrors its sessions, the leases close its older
 * connections).
 */
export interface Cluster {
  readonly bus: RedisEventBus;
  readonly store: ReturnType<typeof clusterMqttStore>;
  readonly takeover: { claim(id: string): Promise<number | null>; newest(id: string): Promise<number | null> };
  attach(gateway: MqttGateway, registry: Registry): Promise<ClusterSessionDirectory>;
  /** "ok", or "unavailable: …" (also for a Redis that hangs with its sockets open: a timed PING). */
  health(): Promise<string>;
  close(): Promise<void>;
}

export function redisTarget(config: Config): RedisTarget {
  const password = process.env["FLEETGATE_REDIS_PASSWORD"];
  return { url: config.cluster.redis!, keyPrefix: config.cluster.keyPrefix, ...(password ? { password } : {}) };
}

export async function connectCluster(config: Config, nodeId: string, logger: Logger): Promise<Cluster> {
  const target = redisTarget(config);
  const onError = (error: unknown) => logger.warn({ service: "cluster", err: error }, "redis operation failed");
  const commands = connectRedis(target, "commands");
  const subscriber = connectRedis(target, "subscriber", { enableOfflineQueue: true, maxRetriesPerRequest: null });
  commands.on("error", onError);
  subscriber.on("error", onError);
  await Promise.all([ready(commands), ready(subscriber)]);
  const membership = new NodeMembership(commands, target, nodeId, onError);
  await membership.start();
  const bus = new RedisEventBus(commands, subscriber, target, membership, logger);
  await bus.start();
  const store = clusterMqttStore(commands, target, isDroppedPublish, onError);
  const late: { gateway?: MqttGateway } = {};
  const leases = new ClientLeases(
    commands,
    subscriber,
    target,
    nodeId,
    (id, seq) => late.gateway?.sessions.closeOlder(id, seq),
    onError,
  );
  await leases.start();
  const takeover = {
    claim: (id: string) => leases.claim(id),
    newest: async (id: string) => (await leases.current([id])).get(id) ?? null,
  };
  const timers: NodeJS.Timeout[] = [];
  let directory: ClusterSessionDirectory | undefined;
  return {
    bus,
    store,
    takeover,
    async attach(gateway, registry) {
      late.gateway = gateway;
      directory = new ClusterSessionDirectory(commands, target, membership, gateway.sessions, onError);
      await directory.resync();
      bus.subscribe((event) => {
        if ((event.type === "session.opened" || event.type === "session.closed") && event.node === nodeId)
          directory!.track(event.deviceId);
      });
      // Changes made while Redis was away were not mirrored, and takeover announcements may be lost.
      commands.on("ready", () => void afterOutage(gateway, directory!, leases).catch(onError));
      timers.push(await startFeed(registry, bus, logger));
      return directory;
    },
    health: () => redisHealth(commands, subscriber),
    async close() {
      for (const timer of timers) clearInterval(timer);
      await directory?.clear();
      await membership.stop();
      for (const redis of [...store.connections, subscriber, commands]) redis.disconnect();
    },
  };
}

async function afterOutage(
  gateway: MqttGateway,
  directory: ClusterSessionDirectory,
  leases: ClientLeases,
): Promise<void> {
  await directory.resync();
  const mine = gateway.sessions.leases();
  const newest = await leases.current(mine.map((s) => s.deviceId));
  for (const { deviceId, lease } of mine) {
    const latest = newest.get(deviceId) ?? 0;
    if (latest > lease) gateway.sessions.closeOlder(deviceId, latest);
  }
}

/** The registry's revocation feed, from the head at start-up (earlier revocations are not this node's). */
async function startFeed(registry: Registry, bus: RedisEventBus, logger: Logger): Promise<NodeJS.Timeout> {
  const feed = new RevocationFeed({ registry, bus }, (await registry.auditHead()).seq);
  let polling = false;
  const timer = setInterval(() => {
    if (polling) return; // a slow registry: one poll at a time
    polling = true;
    feed
      .poll()
      .catch((err: unknown) => logger.warn({ service: "cluster", err }, "revocation feed unreadable; retrying"))
      .finally(() => (polling = false));
  }, FEED_POLL_MS);
  timer.unref();
  return timer;
}

async function redisHealth(...connections: Redis[]): Promise<string> {
  const down = connections.find((redis) => redis.status !== "ready");
  if (down !== undefined) return `unavailable: redis ${down.status}`;
  const timeout = new Promise<string>((resolve) => setTimeout(() => resolve("timeout"), PING_TIMEOUT_MS).unref());
  const pong = await Promise.race([connections[0]!.ping().catch((error: Error) => error.message), timeout]);
  return pong === "PONG" ? "ok" : `unavailable: redis ping ${pong}`;
}
