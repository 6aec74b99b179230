import type { AedesPublishPacket, Client, ConnectPacket, PublishPacket, Subscription } from "aedes";
import { randomUUID } from "node:crypto";
import type { TLSSocket } from "node:tls";
import { authorizeClient, type AdmissionDeps } from "../../app/authorize-client.js";
import { MQTT_REFUSALS, type MqttDenial, type MqttRefusal } from "../../domain/mqtt-refusals.js";
import { KeyedTokenBucket, type RateSpec } from "../../domain/token-bucket.js";
import type { Logger } from "../../logger.js";
import type { Metrics } from "../../metrics.js";
import { peerCertificate } from "./peer-certificate.js";
import type { SessionRegistry } from "./session-kicker.js";

export interface HookOptions {
  readonly admission: AdmissionDeps;
  readonly sessions: SessionRegistry;
  readonly publishRate: RateSpec;
  readonly onDeniedPublish: "disconnect" | "drop";
  readonly logger: Logger;
  readonly metrics: Metrics;
}

interface ConnectFacts {
  readonly clientId: string;
  readonly clean: boolean;
  readonly keepalive: number;
}

/** A dropped publish is re-addressed here: no ACL covers `$` topics, so nobody receives it. */
const DROP_TOPIC_PREFIX = "$fleetgate/dropped/";

/** The id a refused client is renamed to: not a valid device id, so it names nobody's session. */
const REFUSED_CLIENT_PREFIX = "$refused/";

type AuthError = Error & { returnCode: number };

/** The Aedes handlers, as the MQTT 3.1.1 spec orders a connection's life. */
export class BrokerHooks {
  private readonly connectFacts = new WeakMap<Client, ConnectFacts>();
  private readonly publishBuckets: KeyedTokenBucket;

  constructor(private readonly options: HookOptions) {
    this.publishBuckets = new KeyedTokenBucket(options.publishRate);
  }

  /** §3.1: remember what authenticate() will need; Aedes itself answers non-3.1.1 versions with CONNACK 1. */
  preConnect = (client: Client, packet: ConnectPacket, callback: (error: Error | null, ok: boolean) => void): void => {
    if (packet.protocolVersion !== 4 && packet.protocolVersion !== 3)
      this.refused(client, "protocol_not_supported", `protocol version ${packet.protocolVersion}`);
    this.connectFacts.set(client, {
      clientId: packet.clientId ?? "",
      clean: packet.clean !== false,
      keepalive: packet.keepalive ?? 0,
    });
    callback(null, true);
  };

  /** Username and password are ignored: identity comes only from the verified certificate. */
  authenticate = (
    client: Client,
    _username: unknown,
    _password: unknown,
    done: (error: AuthError | null, ok: boolean | null) => void,
  ): void => {
    this.admit(client).then(
      (refusal) => {
        if (refusal === null) return done(null, true);
        this.disown(client);
        done(this.authError(refusal), null);
      },
      (error: unknown) => {
        this.options.logger.error({ service: "mqtt", err: error }, "admission failed");
        this.disown(client);
        done(Object.assign(new Error("server unavailable"), { returnCode: 3 }), null);
      },
    );
  };

  /**
   * Aedes names the client after the CONNECT's client id before authenticate() runs, and on close
   * it clears that id's stored QoS 2 state when CleanSession=1. A refused client must not own the
   * id it asked for: that may be another device's live or persistent session (a takeover attempt).
   */
  private disown(client: Client): void {
    (client as { id: string }).id = `${REFUSED_CLIENT_PREFIX}${randomUUID()}`;
  }

  private async admit(client: Client): Promise<MqttRefusal | null> {
    const facts = this.connectFacts.get(client) ?? { clientId: client.id, clean: client.clean, keepalive: 0 };
    const admission = await authorizeClient(this.options.admission, { peer: peerCertificate(client), ...facts });
    if (!admission.ok) return this.refused(client, admission.refusal, admission.detail);
    const { identity } = admission;
    (client as { id: string }).id = admission.clientId;
    const address = (client.conn as TLSSocket | undefined)?.remoteAddress;
    const session = { identity, acl: admission.acl, connectedAt: Date.now(), address, kicked: false };
    this.options.sessions.add(client, session);
    // Registered first, checked again: a revocation that committed before this read is seen here,
    // one that commits after it finds the session registered and kicks it. No gap either way.
    const stillActive = await this.options.admission.isCertificateActive(identity.serial, identity.deviceId);
    if (!stillActive || session.kicked || client.closed) {
      this.options.sessions.remove(client);
      return this.refused(client, "certificate_not_active", `revoked during admission: ${identity.deviceId}`);
    }
    this.options.metrics.mqttSessions.inc();
    this.options.logger.info(
      { service: "mqtt", deviceId: identity.deviceId, role: identity.role, serial: identity.serial, ip: address },
      "client connected",
    );
    return null;
  }

  private refused(client: Client, refusal: MqttRefusal, detail: string): MqttRefusal {
    this.options.metrics.mqttRefusals.inc({ reason: refusal });
    const ip = (client.conn as TLSSocket | undefined)?.remoteAddress;
    this.options.logger.warn(
      { service: "mqtt", reason: refusal, returnCode: MQTT_REFUSALS[refusal].returnCode, detail, ip },
      "connection refused",
    );
    return refusal;
  }

  private authError(refusal: MqttRefusal): AuthError {
    return Object.assign(new Error(refusal), { returnCode: MQTT_REFUSALS[refusal].returnCode });
  }

  disconnected = (client: Client): void => {
    if (this.options.sessions.session(client)) {
      this.options.sessions.remove(client);
      this.options.metrics.mqttSessions.dec();
    }
  };

  /** Protocol errors, denied publishes in disconnect mode, socket errors: one line, then Aedes closes. */
  clientError = (client: Client, error: Error): void => {
    const deviceId = this.options.sessions.session(client)?.identity.deviceId;
    this.options.logger.info(
      { service: "mqtt", deviceId, clientId: client?.id, error: error.message },
      "client connection closed on error",
    );
  };

  /** §3.3: client publishes and wills. A kicked (revoked) client's will is never published. */
  authorizePublish = (client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void): void => {
    const session = this.options.sessions.session(client);
    if (!session || session.kicked) return callback(new Error("no admitted session"));
    const verdict = session.acl.check("publish", packet.topic);
    if (!verdict.allowed)
      return this.denyPublish(session.identity.deviceId, packet, "publish_not_permitted", verdict.reason, callback);
    if (!this.publishBuckets.take(session.identity.deviceId, Date.now())) {
      return this.drop(session.identity.deviceId, packet, "publish_rate_exceeded", callback);
    }
    this.options.metrics.mqttMessagesIn.inc();
    callback(null);
  };

  private denyPublish(
    deviceId: string,
    packet: PublishPacket,
    reason: MqttDenial,
    detail: string,
    callback: (error?: Error | null) => void,
  ): void {
    this.denied(deviceId, reason, packet.topic, detail);
    if (this.options.onDeniedPublish === "disconnect") return callback(new Error(`${reason}: ${packet.topic}`));
    this.redirectToNowhere(deviceId, packet);
    callback(null);
  }

  private drop(
    deviceId: string,
    packet: PublishPacket,
    reason: MqttDenial,
    callback: (error?: Error | null) => void,
  ): void {
    this.denied(deviceId, reason, packet.topic, "dropped");
    this.redirectToNowhere(deviceId, packet);
    callback(null);
  }

  /** MQTT 3.1.1 cannot refuse a PUBLISH without closing; to drop one we acknowledge it and send it nowhere. */
  private redirectToNowhere(deviceId: string, packet: PublishPacket): void {
    packet.topic = DROP_TOPIC_PREFIX + deviceId;
    packet.retain = false;
  }

  private denied(deviceId: string, reason: MqttDenial, topic: string, detail: string): void {
    this.options.metrics.mqttDenials.inc({ reason });
    this.options.logger.warn({ service: "mqtt", deviceId, reason, topic, detail }, "denied");
  }

  /** §3.8: a filter is granted only when every topic it can match is permitted; else SUBACK 0x80. */
  authorizeSubscribe = (
    client: Client,
    subscription: Subscription,
    callback: (error: Error | null, sub?: Subscription | null) => void,
  ): void => {
    const session = this.options.sessions.session(client);
    if (!session || session.kicked) return callback(null, null);
    const verdict = session.acl.check("subscribe", subscription.topic);
    if (verdict.allowed) return callback(null, subscription);
    this.denied(session.identity.deviceId, "subscribe_not_permitted", subscription.topic, verdict.reason);
    callback(null, null);
  };

  /** Re-checked on every delivery: Aedes restores a persistent session's stored subscriptions as they were. */
  authorizeForward = (client: Client, packet: AedesPublishPacket): AedesPublishPacket | null => {
    const session = this.options.sessions.session(client);
    if (!session || session.kicked || !session.acl.canReceive(packet.topic)) return null;
    this.options.metrics.mqttMessagesOut.inc();
    return packet;
  };

  /** Aedes persists a SUBSCRIBE's original list; keep only the filters this client was granted. */
  grantedOnly(client: { id: string } & Partial<Client>, subscriptions: Subscription[]): Subscription[] {
    const session = this.options.sessions.session(client as Client);
    if (!session) return [];
    return subscriptions.filter((sub) => session.acl.check("subscribe", sub.topic).allowed);
  }
}
