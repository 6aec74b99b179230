import type { Aedes, Client } from "aedes";
import type { Acl } from "../../domain/acl.js";
import type { DeviceIdentity } from "../../domain/identity.js";
import type { Logger } from "../../logger.js";
import type { Metrics } from "../../metrics.js";
import type { SessionKicker } from "../../ports.js";

/** What the broker knows about an admitted client; `kicked` silences its will for good. */
export interface Session {
  readonly identity: DeviceIdentity;
  readonly acl: Acl;
  readonly connectedAt: number;
  readonly address: string | undefined;
  kicked: boolean;
}

/**
 * Live sessions by device id. `kick` closes every one of a device's connections at once and
 * discards its persistent session state (subscriptions, queued QoS 1/2 messages, will), so a
 * revoked device leaves nothing behind that could be delivered to it or on its behalf.
 */
export class SessionRegistry implements SessionKicker {
  private readonly byClient = new WeakMap<Client, Session>();
  private readonly byDevice = new Map<string, Set<Client>>();

  constructor(
    private readonly broker: Aedes,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {}

  session(client: Client | null): Session | undefined {
    return client ? this.byClient.get(client) : undefined;
  }

  add(client: Client, session: Session): void {
    this.byClient.set(client, session);
    let clients = this.byDevice.get(session.identity.deviceId);
    if (!clients) this.byDevice.set(session.identity.deviceId, (clients = new Set()));
    clients.add(client);
  }

  remove(client: Client): void {
    const session = this.byClient.get(client);
    if (!session) return;
    const clients = this.byDevice.get(session.identity.deviceId);
    clients?.delete(client);
    if (clients?.size === 0) this.byDevice.delete(session.identity.deviceId);
  }

  liveSessions(deviceId: string): number {
    return this.byDevice.get(deviceId)?.size ?? 0;
  }

  sessionsOf(deviceId: string): Session[] {
    return [...(this.byDevice.get(deviceId) ?? [])].map((client) => this.byClient.get(client)!).filter(Boolean);
  }

  get size(): number {
    let total = 0;
    for (const clients of this.byDevice.values()) total += clients.size;
    return total;
  }

  async kick(deviceId: string, reason: string): Promise<number> {
    const clients = [...(this.byDevice.get(deviceId) ?? [])];
    for (const client of clients) {
      const session = this.byClient.get(client);
      if (session) session.kicked = true;
      client.close();
    }
    this.metrics.mqttKicks.inc(clients.length);
    this.logger.warn({ service: "mqtt", deviceId, reason, sessions: clients.length }, "device sessions kicked");
    await this.discardPersistentState(deviceId);
    return clients.length;
  }

  /** Client ids equal CNs, so the device id names its persistent session. */
  private async discardPersistentState(deviceId: string): Promise<void> {
    const persistence = (this.broker as unknown as { persistence: PersistenceCleanup }).persistence;
    const ref = { id: deviceId, brokerId: this.broker.id };
    await persistence.cleanSubscriptions(ref);
    await persistence.delWill(ref).catch(() => undefined);
    await persistence.cleanIncoming?.(ref);
    for await (const packet of persistence.outgoingStream(ref)) await persistence.outgoingClearMessageId(ref, packet);
  }
}

interface PersistenceCleanup {
  cleanSubscriptions(client: { id: string }): Promise<void>;
  delWill(client: { id: string; brokerId: string }): Promise<unknown>;
  cleanIncoming?(client: { id: string }): Promise<void>;
  outgoingStream(client: { id: string }): AsyncIterable<{ messageId?: number }>;
  outgoingClearMessageId(client: { id: string }, packet: { messageId?: number }): Promise<unknown>;
}
