import type { Redis } from "ioredis";
import type { LiveSession, SessionDirectory } from "../../ports.js";
import { key, type RedisTarget } from "./connection.js";
import type { NodeMembership } from "./membership.js";

/** The part of a node's local directory this one mirrors into Redis. */
export interface LocalDirectory {
  sessionsOf(deviceId: string): Promise<LiveSession[]>;
  onlineDeviceIds(options: { after?: string; limit: number }): Promise<string[]>;
}

/**
 * The cluster-wide session directory: each node mirrors its own sessions into Redis (a hash of device →
 * sessions and a sorted set of online device ids, per node); readers look only at live nodes (the
 * membership heartbeat), so a crashed node's entries stop counting within seconds. If Redis is away
 * this throws: a partial answer would list a device offline that is online elsewhere.
 */
export class ClusterSessionDirectory implements SessionDirectory {
  private readonly pending = new Set<string>();

  constructor(
    private readonly redis: Redis,
    private readonly target: Pick<RedisTarget, "keyPrefix">,
    private readonly membership: NodeMembership,
    private readonly local: LocalDirectory,
    private readonly onError: (error: unknown) => void,
  ) {}

  private sessionsKey(node: string): string {
    return key(this.target, "sessions", node);
  }

  private onlineKey(node: string): string {
    return key(this.target, "online", node);
  }

  /** Re-mirrors one device after a session of it opened or closed here. */
  track(deviceId: string): void {
    this.pending.add(deviceId);
    if (this.pending.size === 1) setImmediate(() => void this.flush().catch(this.onError));
  }

  private async flush(): Promise<void> {
    const ids = [...this.pending];
    this.pending.clear();
    const node = this.membership.nodeId;
    const batch = this.redis.multi();
    for (const id of ids) {
      const sessions = await this.local.sessionsOf(id);
      if (sessions.length === 0) batch.hdel(this.sessionsKey(node), id).zrem(this.onlineKey(node), id);
      else batch.hset(this.sessionsKey(node), id, JSON.stringify(sessions)).zadd(this.onlineKey(node), 0, id);
    }
    await batch.exec();
  }

  /** Writes this node's whole mirror again (start-up, and after Redis came back: changes may be lost). */
  async resync(): Promise<void> {
    const node = this.membership.nodeId;
    const batch = this.redis.multi().del(this.sessionsKey(node), this.onlineKey(node));
    for (let after: string | undefined; ;) {
      const ids = await this.local.onlineDeviceIds({ ...(after === undefined ? {} : { after }), limit: 1000 });
      for (const id of ids)
        batch
          .hset(this.sessionsKey(node), id, JSON.stringify(await this.local.sessionsOf(id)))
          .zadd(this.onlineKey(node), 0, id);
      if (ids.length < 1000) break;
      after = ids[ids.length - 1];
    }
    await batch.exec();
  }

  async sessionsOf(deviceId: string): Promise<LiveSession[]> {
    const nodes = await this.membership.liveNodes();
    const batch = this.redis.multi();
    for (const node of nodes) batch.hget(this.sessionsKey(node), deviceId);
    const results = (await batch.exec()) ?? [];
    return results.flatMap(([error, value]) =>
      error === null && typeof value === "string" ? (JSON.parse(value) as LiveSession[]) : [],
    );
  }

  async onlineDeviceIds(options: { after?: string; limit: number }): Promise<string[]> {
    const nodes = await this.membership.liveNodes();
    const from = options.after === undefined ? "-" : `(${options.after}`;
    const batch = this.redis.multi();
    for (const node of nodes) batch.zrangebylex(this.onlineKey(node), from, "+", "LIMIT", 0, options.limit);
    const lists = ((await batch.exec()) ?? []).flatMap(([error, ids]) =>
      error === null && Array.isArray(ids) ? [ids as string[]] : [],
    );
    return [...new Set(lists.flat())].sort().slice(0, options.limit);
  }

  /** A device is on one node at a time but for a takeover's instant, so the sum is the count. */
  async countOnline(): Promise<number> {
    const nodes = await this.membership.liveNodes();
    const batch = this.redis.multi();
    for (const node of nodes) batch.zcard(this.onlineKey(node));
    return ((await batch.exec()) ?? []).reduce((sum, [error, n]) => sum + (error === null ? Number(n) : 0), 0);
  }

  /** Leaving cleanly: this node's entries go at once. */
  async clear(): Promise<void> {
    const node = this.membership.nodeId;
    await this.redis.del(this.sessionsKey(node), this.onlineKey(node)).catch(() => undefined);
  }
}
