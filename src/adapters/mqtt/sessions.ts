import type { Client } from "aedes";
import type { Acl } from "../../domain/acl.js";
import type { DeviceIdentity } from "../../domain/identity.js";
import type { LiveSession, SessionDirectory, SessionKicker } from "../../ports.js";

/** What the broker knows about an admitted client; `kicked` silences its will for good. */
export interface Session {
  readonly identity: DeviceIdentity;
  readonly acl: Acl;
  readonly connectedAt: number;
  readonly address: string | undefined;
  /** Filters granted to this connection (restored ones included): mqtt.maxSubscriptionsPerClient. */
  readonly filters: Set<string>;
  kicked: boolean;
  /** Admission completed (counted, announced); a session closed before that was never "opened". */
  opened: boolean;
  /** Its number in the cluster's per-client-id takeover order (null on a single node or without Redis). */
  lease: number | null;
}

/** What a kick does besides closing connections: discard the device's persistent state. */
export interface SessionCleanup {
  discard(deviceId: string): Promise<void>;
}

/**
 * This node's live sessions by device id: the session directory of a single node, and the kicker
 * that closes every one of a device's connections at once and then discards its persistent state
 * (subscriptions, queued and stored QoS 1/2 messages, will, retained messages), so a revoked device
 * leaves nothing behind that could be delivered to it or on its behalf.
 */
/** How long a kick waits for the persistent state to be discarded before it answers anyway. */
const DISCARD_WAIT_MS = 1000;

export class LocalSessions implements SessionDirectory, SessionKicker {
  private readonly byClient = new WeakMap<Client, Session>();
  private readonly byDevice = new Map<string, Set<Client>>();
  private total = 0;

  constructor(
    readonly nodeId: string,
    private readonly cleanup: SessionCleanup,
    private readonly onKick: (deviceId: string, reason: string, closed: number) => void,
    private readonly onDiscardFailed: (deviceId: string, error: unknown) => void = () => undefined,
  ) {}

  session(client: Client | null): Session | undefined {
    return client ? this.byClient.get(client) : undefined;
  }

  add(client: Client, session: Session): void {
    this.byClient.set(client, session);
    let clients = this.byDevice.get(session.identity.deviceId);
    if (!clients) this.byDevice.set(session.identity.deviceId, (clients = new Set()));
    clients.add(client);
    this.total += 1;
  }

  /** True when the client was registered (and now is not). */
  remove(client: Client): boolean {
    const session = this.byClient.get(client);
    if (!session) return false;
    this.byClient.delete(client);
    const clients = this.byDevice.get(session.identity.deviceId);
    if (clients?.delete(client)) this.total -= 1;
    if (clients?.size === 0) this.byDevice.delete(session.identity.deviceId);
    return true;
  }

  get size(): number {
    return this.total;
  }

  async sessionsOf(deviceId: string): Promise<LiveSession[]> {
    return [...(this.byDevice.get(deviceId) ?? [])].flatMap((client) => {
      const session = this.byClient.get(client);
      return session ? [this.liveSession(session)] : [];
    });
  }

  private liveSession(session: Session): LiveSession {
    const { deviceId, serial } = session.identity;
    return { deviceId, serial, address: session.address ?? null, connectedAt: session.connectedAt, node: this.nodeId };
  }

  async onlineDeviceIds(options: { after?: string; limit: number }): Promise<string[]> {
    const after = options.after ?? "";
    return [...this.byDevice.keys()]
      .filter((id) => id > after)
      .sort()
      .slice(0, options.limit);
  }

  async countOnline(): Promise<number> {
    return this.byDevice.size;
  }

  /**
   * [MQTT-3.1.4-2] across nodes: a connection of the same client id with a higher lease number was
   * admitted elsewhere, so this node's older ones close (as a local takeover would: the persistent
   * session stays, for the new connection to continue).
   */
  closeOlder(deviceId: string, lease: number): number {
    let closed = 0;
    for (const client of this.byDevice.get(deviceId) ?? []) {
      const session = this.byClient.get(client);
      if (session?.lease === null || session === undefined || session.lease >= lease) continue;
      client.close();
      closed += 1;
    }
    return closed;
  }

  /** Every live session here with its lease number (for reconciling after a Redis outage). */
  leases(): { deviceId: string; lease: number }[] {
    return [...this.byDevice.values()].flatMap((clients) =>
      [...clients].flatMap((client) => {
        const session = this.byClient.get(client);
        return session?.lease == null ? [] : [{ deviceId: session.identity.deviceId, lease: session.lease }];
      }),
    );
  }

  async kick(deviceId: string, reason: string): Promise<number> {
    const clients = [...(this.byDevice.get(deviceId) ?? [])];
    for (const client of clients) {
      const session = this.byClient.get(client);
      if (session) session.kicked = true;
      client.close();
    }
    this.onKick(deviceId, reason, clients.length);
    // The sessions are closed already; the stored state goes as soon as the store answers. A store that
    // is away (Redis in a cluster outage) must not hold the revocation's answer: it finishes later.
    const discarded = this.cleanup.discard(deviceId).catch((error: unknown) => this.onDiscardFailed(deviceId, error));
    await Promise.race([discarded, new Promise((resolve) => setTimeout(resolve, DISCARD_WAIT_MS).unref())]);
    return clients.length;
  }
}
