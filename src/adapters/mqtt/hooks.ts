import type { AedesPublishPacket, Client, ConnectPacket, PublishPacket, Subscription } from "aedes";
import { authorizeClient, stillAdmitted, type AdmissionDeps } from "../../app/authorize-client.js";
import { MQTT_REFUSALS, type MqttDenial, type MqttRefusal } from "../../domain/mqtt-refusals.js";
import type { RetainedLimits, RetainedQuota } from "../../domain/retained-quota.js";
import { KeyedTokenBucket, type RateSpec } from "../../domain/token-bucket.js";
import type { Logger } from "../../logger.js";
import type { Metrics } from "../../metrics.js";
import type { DenialLog } from "./denial-log.js";
import { tlsSocketOf } from "./inspected-connection.js";
import { peerCertificate } from "./peer-certificate.js";
import type { LocalSessions, Session } from "./sessions.js";

export interface HookOptions {
  readonly admission: AdmissionDeps;
  readonly sessions: LocalSessions;
  readonly publishRate: RateSpec;
  readonly onDeniedPublish: "disconnect" | "drop";
  readonly maxSubscriptionsPerClient: number;
  readonly retained: RetainedQuota;
  readonly retainedLimits: (role: string) => RetainedLimits;
  readonly denials: DenialLog;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Cluster mode: per-client-id lease numbers for takeover across nodes (client-leases.ts). */
  readonly takeover?: {
    claim(clientId: string): Promise<number | null>;
    newest(clientId: string): Promise<number | null>;
  };
  /** Fleet events for live views: a session opened or closed. */
  readonly onSession: (event: "opened" | "closed", session: Session, client: Client) => void;
}

interface ConnectFacts {
  readonly clientId: string;
  readonly clean: boolean;
  readonly keepalive: number;
}

/**
 * A dropped publish is re-addressed here: U+0000 is in no valid topic filter [MQTT-4.7.3-2], so no
 * subscription of any role can match it, and the persistence never stores it (isDroppedPublish).
 */
const DROPPED_TOPIC = "\u0000fleetgate/dropped";

export function isDroppedPublish(packet: { readonly topic: string }): boolean {
  return packet.topic === DROPPED_TOPIC;
}

type AuthError = Error & { returnCode: number };

/** The Aedes handlers, as the MQTT 3.1.1 spec orders a connection's life. */
export class BrokerHooks {
  private readonly connectFacts = new WeakMap<Client, ConnectFacts>();
  /** Every client ever admitted (kept after it disconnects: Aedes cleans its state after that). */
  private readonly admitted = new WeakSet<Client>();
  private readonly publishBuckets: KeyedTokenBucket;

  constructor(private readonly options: HookOptions) {
    this.publishBuckets = new KeyedTokenBucket(options.publishRate);
  }

  /** §3.1: remember what authenticate() will need; Aedes itself answers non-3.1.1 versions with CONNACK 1. */
  preConnect = (client: Client, packet: ConnectPacket, callback: (error: Error | null, ok: boolean) => void): void => {
    if (packet.protocolVersion !== 4 && packet.protocolVersion !== 3) {
      this.refused(client, "protocol_not_supported", `protocol version ${packet.protocolVersion}`);
    }
    const facts = { clientId: packet.clientId ?? "", clean: packet.clean !== false, keepalive: packet.keepalive ?? 0 };
    this.connectFacts.set(client, facts);
    callback(null, true);
  };

  /**
   * Username and password are ignored: identity comes only from the verified certificate. A refused
   * client keeps the id it asked for in Aedes's eyes, but owns no session state: the persistence
   * wrapper lets only admitted clients clean stored state (ownsSession).
   */
  authenticate = (
    client: Client,
    _username: unknown,
    _password: unknown,
    done: (error: AuthError | null, ok: boolean | null) => void,
  ): void => {
    this.admit(client).then(
      (refusal) => (refusal === null ? done(null, true) : done(this.authError(refusal), null)),
      (error: unknown) => {
        this.options.logger.error({ service: "mqtt", err: error }, "admission failed");
        done(Object.assign(new Error("server unavailable"), { returnCode: 3 }), null);
      },
    );
  };

  /** Our own calls pass `{ id }`; Aedes passes its Client, which must have been admitted. */
  ownsSession(client: { id: string } | Client): boolean {
    return !("conn" in client) || this.admitted.has(client);
  }

  private async admit(client: Client): Promise<MqttRefusal | null> {
    const facts = this.connectFacts.get(client) ?? { clientId: client.id, clean: client.clean, keepalive: 0 };
    const admission = await authorizeClient(this.options.admission, {
      peer: peerCertificate(tlsSocketOf(client.conn)),
      ...facts,
    });
    if (!admission.ok) return this.refused(client, admission.refusal, admission.detail);
    const { identity } = admission;
    (client as { id: string }).id = admission.clientId;
    const address = tlsSocketOf(client.conn)?.remoteAddress;
    const filters = new Set<string>();
    const session: Session = {
      identity,
      acl: admission.acl,
      connectedAt: Date.now(),
      address,
      filters,
      kicked: false,
      opened: false,
      lease: null,
    };
    this.options.sessions.add(client, session);
    // Aedes announces clientDisconnect only for clients it registered; one closed while still connecting
    // (kicked, taken over) would otherwise stay in the directory. A connected one is left to Aedes, which
    // authorizes its will first (that needs the session).
    client.conn.once("close", () => {
      if (!client.connected) setImmediate(() => this.disconnected(client));
    });
    // Registered first, checked again: a revocation that committed before this read is seen here,
    // one that commits after it finds the session registered and kicks it. No gap either way.
    if (!(await stillAdmitted(this.options.admission, identity)) || session.kicked || client.closed) {
      this.options.sessions.remove(client);
      return this.refused(client, "certificate_not_active", `revoked during admission: ${identity.deviceId}`);
    }
    if (!(await this.takeOver(session))) {
      this.options.sessions.remove(client);
      return this.refused(client, "session_taken_over", `a newer connection of ${identity.deviceId} exists`);
    }
    this.admitted.add(client);
    session.opened = true;
    this.options.metrics.mqttSessions.inc();
    this.options.onSession("opened", session, client);
    const { deviceId, role, serial } = identity;
    this.options.logger.info(
      { service: "mqtt", deviceId, role, serial, ip: address, lease: session.lease },
      "client connected",
    );
    return null;
  }

  /**
   * Cluster mode: this connection takes the next lease number of its client id (which closes older
   * connections on every node) and, registered first, checks again that no newer one was admitted in
   * the meantime — two nodes admitting the same id at the same instant keep exactly one. Without Redis
   * the connection is admitted on this node's word alone (the leases reconcile when Redis is back).
   */
  private async takeOver(session: Session): Promise<boolean> {
    const { takeover } = this.options;
    if (takeover === undefined) return true;
    session.lease = await takeover.claim(session.identity.deviceId);
    if (session.lease === null) return true;
    const newest = await takeover.newest(session.identity.deviceId).catch(() => null);
    return newest === null || newest <= session.lease;
  }

  private refused(client: Client, refusal: MqttRefusal, detail: string): MqttRefusal {
    this.options.metrics.mqttRefusals.inc({ reason: refusal });
    const ip = tlsSocketOf(client.conn)?.remoteAddress;
    const returnCode = MQTT_REFUSALS[refusal].returnCode;
    this.options.logger.warn({ service: "mqtt", reason: refusal, returnCode, detail, ip }, "connection refused");
    return refusal;
  }

  private authError(refusal: MqttRefusal): AuthError {
    return Object.assign(new Error(refusal), { returnCode: MQTT_REFUSALS[refusal].returnCode });
  }

  disconnected = (client: Client): void => {
    const session = this.options.sessions.session(client);
    if (session && this.options.sessions.remove(client) && session.opened) {
      this.options.metrics.mqttSessions.dec();
      this.options.onSession("closed", session, client);
    }
  };

  /** Protocol errors, denied publishes in disconnect mode, socket errors: one line, then Aedes closes. */
  clientError = (client: Client, error: Error): void => {
    const deviceId = this.options.sessions.session(client)?.identity.deviceId;
    const fields = { service: "mqtt", deviceId, clientId: client?.id, error: error.message };
    this.options.logger.info(fields, "client connection closed on error");
  };

  /** §3.3: client publishes and wills. A kicked (revoked) client's will is never published. */
  authorizePublish = (client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void): void => {
    const session = this.options.sessions.session(client);
    if (!session || session.kicked) return callback(new Error("no admitted session"));
    const { deviceId } = session.identity;
    // The boolean on the hot path; the verdict (its reason) only for a refusal.
    if (!session.acl.mayPublish(packet.topic)) {
      return this.denyPublish(deviceId, packet, session.acl.check("publish", packet.topic).reason, callback);
    }
    if (!this.publishBuckets.take(deviceId, Date.now())) {
      this.denied(deviceId, "publish_rate_exceeded", { topic: packet.topic });
      this.dropPublish(packet);
      return callback(null);
    }
    if (packet.retain) this.retain(session, packet);
    this.options.metrics.mqttMessagesIn.inc();
    callback(null);
  };

  private denyPublish(
    deviceId: string,
    packet: PublishPacket,
    detail: string,
    callback: (error?: Error | null) => void,
  ): void {
    this.denied(deviceId, "publish_not_permitted", { topic: packet.topic, detail });
    if (this.options.onDeniedPublish === "disconnect")
      return callback(new Error(`publish_not_permitted: ${packet.topic}`));
    this.dropPublish(packet);
    callback(null);
  }

  /** MQTT 3.1.1 cannot refuse a PUBLISH without closing; to drop one we acknowledge it and send it nowhere. */
  private dropPublish(packet: PublishPacket): void {
    packet.topic = DROPPED_TOPIC;
    packet.retain = false;
  }

  /** Retained within the device's quota, or delivered without being retained. */
  private retain(session: Session, packet: PublishPacket): void {
    const { deviceId, role } = session.identity;
    const bytes = typeof packet.payload === "string" ? Buffer.byteLength(packet.payload) : packet.payload.length;
    const verdict = this.options.retained.check(deviceId, packet.topic, bytes, this.options.retainedLimits(role));
    if (verdict === "ok") return this.options.retained.record(deviceId, packet.topic, bytes);
    this.denied(deviceId, "retained_limit_reached", { topic: packet.topic, detail: verdict });
    packet.retain = false;
  }

  private denied(deviceId: string, reason: MqttDenial, fields: Record<string, unknown>): void {
    this.options.metrics.mqttDenials.inc({ reason });
    this.options.denials.denied(deviceId, reason, { deviceId, ...fields });
  }

  /**
   * §3.8: a filter is granted only when every topic it can match is permitted, and while the connection
   * holds fewer than mqtt.maxSubscriptionsPerClient filters; else SUBACK 0x80. The count is checked
   * first: past the limit a filter costs no ACL work.
   */
  authorizeSubscribe = (
    client: Client,
    subscription: Subscription,
    callback: (error: Error | null, sub?: Subscription | null) => void,
  ): void => {
    const session = this.options.sessions.session(client);
    if (!session || session.kicked) return callback(null, null);
    const { deviceId } = session.identity;
    const { topic } = subscription;
    if (!session.filters.has(topic) && session.filters.size >= this.options.maxSubscriptionsPerClient) {
      this.denied(deviceId, "subscription_limit_reached", { topic, limit: this.options.maxSubscriptionsPerClient });
      return callback(null, null);
    }
    const verdict = session.acl.check("subscribe", topic);
    if (!verdict.allowed) {
      this.denied(deviceId, "subscribe_not_permitted", { topic, detail: verdict.reason });
      return callback(null, null);
    }
    session.filters.add(topic);
    callback(null, subscription);
  };

  /** Aedes's 'unsubscribe' event: the filters no longer count against the connection's limit. */
  unsubscribed = (topics: string[], client: Client): void => {
    const session = this.options.sessions.session(client);
    for (const topic of topics) session?.filters.delete(topic);
  };

  /** Re-checked on every delivery: Aedes restores a persistent session's stored subscriptions as they were. */
  authorizeForward = (client: Client, packet: AedesPublishPacket): AedesPublishPacket | null => {
    const session = this.options.sessions.session(client);
    if (!session || session.kicked || !session.acl.canReceive(packet.topic)) return null;
    this.options.metrics.mqttMessagesOut.inc();
    return packet;
  };

  /** Aedes persists a SUBSCRIBE's original list; keep only the filters this client was granted. */
  grantedOnly(client: { id: string } | Client, subscriptions: readonly Subscription[]): Subscription[] {
    const session = this.options.sessions.session(client as Client);
    if (!session) return [];
    return subscriptions.filter((sub) => session.filters.has(sub.topic));
  }
}
