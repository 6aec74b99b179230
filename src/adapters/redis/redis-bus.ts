import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { z } from "zod";
import type { Logger } from "../../logger.js";
import type { EventBus, FleetEvent, RevocationEvent, RevocationHandler, RevocationOutcome } from "../../ports.js";
import { FleetListeners, RevocationHandlers } from "../shared/revocation-handlers.js";
import { key, type RedisTarget } from "./connection.js";
import type { NodeMembership } from "./membership.js";

const RevocationMessage = z.object({
  id: z.string(),
  origin: z.string(),
  event: z.object({
    deviceId: z.string(),
    reason: z.string(),
    serials: z.array(z.string()),
    at: z.number(),
    auditSeq: z.number().nullable(),
  }),
});
const ReplyMessage = z.object({ id: z.string(), node: z.string(), closed: z.number().int().min(0) });
const FleetMessage = z.object({ origin: z.string(), event: z.looseObject({ type: z.string() }) });

interface Waiting {
  readonly expected: Set<string>;
  readonly byNode: Record<string, number>;
  readonly done: () => void;
}

/**
 * The cluster's event bus over Redis pub/sub. A revocation runs this node's handlers, then goes to every
 * other node, each of which kicks its own sessions and answers how many it closed; the caller waits for
 * the live nodes' answers (up to `replyTimeoutMs`) and reports them per node. Pub/sub is fire-and-forget,
 * so nothing here is the only way a revocation arrives: every node also replays the registry's
 * revocation feed (src/app/revocation-feed.ts). Fleet events (live views) are best effort.
 */
export class RedisEventBus implements EventBus {
  private readonly revocations: RevocationHandlers;
  private readonly listeners: FleetListeners;
  private readonly waiting = new Map<string, Waiting>();
  private readonly channels: { revocations: string; replies: string; fleet: string };

  constructor(
    private readonly pub: Redis,
    private readonly sub: Redis,
    private readonly target: Pick<RedisTarget, "keyPrefix">,
    private readonly membership: NodeMembership,
    private readonly logger: Logger,
    private readonly replyTimeoutMs = 2000,
  ) {
    this.revocations = new RevocationHandlers(logger);
    this.listeners = new FleetListeners(logger);
    const node = membership.nodeId;
    this.channels = {
      revocations: key(target, "revocations"),
      replies: key(target, "replies", node),
      fleet: key(target, "fleet"),
    };
  }

  async start(): Promise<void> {
    this.sub.on("message", (channel: string, text: string) => void this.onMessage(channel, text));
    await this.sub.subscribe(this.channels.revocations, this.channels.replies, this.channels.fleet);
  }

  onRevocation(handler: RevocationHandler): void {
    this.revocations.add(handler);
  }

  async publishRevocation(event: RevocationEvent): Promise<RevocationOutcome> {
    const node = this.membership.nodeId;
    const local = await this.revocations.run(event, "local");
    const byNode: Record<string, number> = { [node]: local };
    const others = (await this.membership.liveNodes().catch(() => [])).filter((n) => n !== node);
    if (others.length === 0) return { sessionsClosed: local, byNode, unanswered: [] };
    const id = randomUUID();
    const answered = new Promise<void>((done) => this.waiting.set(id, { expected: new Set(others), byNode, done }));
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, this.replyTimeoutMs).unref());
    try {
      await this.pub.publish(this.channels.revocations, JSON.stringify({ id, origin: node, event }));
      await Promise.race([answered, timeout]);
    } catch (error) {
      this.logger.error(
        { service: "cluster", err: error, deviceId: event.deviceId },
        "revocation fan-out failed; nodes catch up from the registry",
      );
    } finally {
      this.waiting.delete(id);
    }
    const unanswered = others.filter((n) => !(n in byNode));
    const sessionsClosed = Object.values(byNode).reduce((sum, n) => sum + n, 0);
    return { sessionsClosed, byNode, unanswered };
  }

  async replay(event: RevocationEvent): Promise<void> {
    await this.revocations.run(event, "remote");
  }

  publish(event: FleetEvent): void {
    this.listeners.deliver(event);
    const message = JSON.stringify({ origin: this.membership.nodeId, event });
    this.pub.publish(this.channels.fleet, message).catch(() => undefined); // a live view may miss one
  }

  subscribe(listener: (event: FleetEvent) => void): () => void {
    return this.listeners.add(listener);
  }

  /** True while both connections to Redis are up. */
  get connected(): boolean {
    return this.pub.status === "ready" && this.sub.status === "ready";
  }

  private async onMessage(channel: string, text: string): Promise<void> {
    try {
      const json: unknown = JSON.parse(text);
      if (channel === this.channels.revocations) await this.onRevocationMessage(RevocationMessage.parse(json));
      else if (channel === this.channels.replies) this.onReply(ReplyMessage.parse(json));
      else if (channel === this.channels.fleet) this.onFleetMessage(FleetMessage.parse(json));
    } catch (error) {
      this.logger.warn({ service: "cluster", channel, err: error }, "ignored a malformed cluster message");
    }
  }

  private async onRevocationMessage(message: z.infer<typeof RevocationMessage>): Promise<void> {
    if (message.origin === this.membership.nodeId) return;
    // The registry feed may have run it first: the reply still counts what it closed here.
    const closed = await this.revocations.run(message.event, "remote");
    const reply = JSON.stringify({ id: message.id, node: this.membership.nodeId, closed });
    await this.pub.publish(key(this.target, "replies", message.origin), reply).catch(() => undefined);
  }

  private onReply(reply: z.infer<typeof ReplyMessage>): void {
    const waiting = this.waiting.get(reply.id);
    if (waiting === undefined) return;
    waiting.byNode[reply.node] = reply.closed;
    waiting.expected.delete(reply.node);
    if (waiting.expected.size === 0) waiting.done();
  }

  private onFleetMessage(message: z.infer<typeof FleetMessage>): void {
    if (message.origin !== this.membership.nodeId) this.listeners.deliver(message.event as FleetEvent);
  }
}
