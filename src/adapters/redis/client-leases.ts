import type { Redis } from "ioredis";
import { z } from "zod";
import { key, type RedisTarget } from "./connection.js";

const TakeoverMessage = z.object({ clientId: z.string(), seq: z.number().int().positive(), node: z.string() });
/** Counters of devices that stopped connecting are forgotten after a week (one key per device at most). */
const LEASE_TTL_MS = 7 * 86_400_000;

/**
 * [MQTT-3.1.4-2] across nodes: "if the client id represents a client already connected, the server
 * MUST disconnect the existing client". Each admission takes the next number of a per-client-id counter
 * in Redis (INCR: atomic, so two nodes admitting the same id at the same instant get different numbers)
 * and announces it; every node closes its connections of that id holding a lower number. The highest
 * number is the one connection that stays, whatever order the announcements arrive in; a node that
 * missed announcements (Redis away) compares its numbers with the counters when Redis is back.
 */
export class ClientLeases {
  private readonly channel: string;

  constructor(
    private readonly redis: Redis,
    private readonly sub: Redis,
    private readonly target: Pick<RedisTarget, "keyPrefix">,
    private readonly nodeId: string,
    private readonly onTakeover: (clientId: string, seq: number) => void,
    private readonly onError: (error: unknown) => void,
  ) {
    this.channel = key(target, "takeover");
  }

  async start(): Promise<void> {
    this.sub.on("message", (channel: string, text: string) => {
      if (channel !== this.channel) return;
      try {
        const message = TakeoverMessage.parse(JSON.parse(text));
        this.onTakeover(message.clientId, message.seq);
      } catch (error) {
        this.onError(error);
      }
    });
    await this.sub.subscribe(this.channel);
  }

  private counter(clientId: string): string {
    return key(this.target, "lease", clientId);
  }

  /** This connection's number, announced to every node; null when Redis cannot be reached. */
  async claim(clientId: string): Promise<number | null> {
    try {
      const [[, seq] = []] =
        (await this.redis.multi().incr(this.counter(clientId)).pexpire(this.counter(clientId), LEASE_TTL_MS).exec()) ??
        [];
      const number = Number(seq);
      await this.redis.publish(this.channel, JSON.stringify({ clientId, seq: number, node: this.nodeId }));
      return number;
    } catch (error) {
      this.onError(error);
      return null;
    }
  }

  /** The newest number taken for each id (0 when none), for the check after registering and reconciling. */
  async current(clientIds: readonly string[]): Promise<Map<string, number>> {
    if (clientIds.length === 0) return new Map();
    const values = await this.redis.mget(clientIds.map((id) => this.counter(id)));
    return new Map(clientIds.map((id, i) => [id, Number(values[i] ?? 0)]));
  }
}
