// The Redis-backed Aedes parts, as fleetgate uses them. mqemitter-redis's typings omit the prefixed
// emitter and its `state` events; aedes-persistence-redis ships none. src/adapters/redis/mqtt-store.ts
// gives both the interfaces fleetgate relies on.
declare module "mqemitter-redis/mqemitter-redis.js" {
  export const MQEmitterRedisPrefix: new (prefix: string, options: Record<string, unknown>) => object;
}
declare module "aedes-persistence-redis/asyncPersistence.js" {
  const AsyncRedisPersistence: new (options: Record<string, unknown>) => object;
  export default AsyncRedisPersistence;
}
