import type { Redis } from "ioredis";
import { key, type RedisTarget } from "./connection.js";

const HEARTBEAT_MS = 1000;
/** A node that missed this many heartbeats is gone (crashed, partitioned); its sessions no longer count. */
const ALIVE_FOR_MS = 5000;

/**
 * Which nodes are alive: each node writes its heartbeat (a score = now) into one sorted set every
 * second; live nodes are those heard from in the last five. Used to know whose answers to wait for
 * and whose session entries to believe.
 */
export class NodeMembership {
  private timer: NodeJS.Timeout | null = null;
  private readonly setKey: string;

  constructor(
    private readonly redis: Redis,
    target: Pick<RedisTarget, "keyPrefix">,
    readonly nodeId: string,
    private readonly onError: (error: unknown) => void,
  ) {
    this.setKey = key(target, "nodes");
  }

  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => void this.beat().catch(this.onError), HEARTBEAT_MS);
    this.timer.unref();
  }

  private async beat(): Promise<void> {
    const now = Date.now();
    await this.redis
      .multi()
      .zadd(this.setKey, now, this.nodeId)
      .zremrangebyscore(this.setKey, 0, now - 60_000)
      .exec();
  }

  async liveNodes(): Promise<string[]> {
    return this.redis.zrangebyscore(this.setKey, Date.now() - ALIVE_FOR_MS, "+inf");
  }

  /** Leaving cleanly: the others stop waiting for this node at once. */
  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.redis.zrem(this.setKey, this.nodeId).catch(() => undefined);
  }
}
