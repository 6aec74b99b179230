import { Aedes, type Client } from "aedes";
import type { EventEmitter } from "node:events";
import { createServer, type SecureContextOptions, type Server } from "node:tls";
import { RetainedQuota } from "../../domain/retained-quota.js";
import type { BrokerOptions } from "./broker-options.js";
import { DenialLog } from "./denial-log.js";
import { GuardedPersistence } from "./guarded-persistence.js";
import { BrokerHooks, isDroppedPublish } from "./hooks.js";
import { LocalSessions, type Session } from "./sessions.js";
import { ticketContextOptions, type SessionTickets } from "../shared/ticket-keys.js";

/** What the gateway reacts to once it exists (the parts are made before it, and call back into it). */
export interface GatewayCallbacks {
  discard(deviceId: string): Promise<void>;
  onSession(event: "opened" | "closed", session: Session, client: Client): void;
}

export interface BrokerParts {
  readonly broker: Aedes;
  readonly sessions: LocalSessions;
  readonly persistence: GuardedPersistence;
  readonly retained: RetainedQuota;
  readonly denials: DenialLog;
  readonly server: Server;
}

/**
 * Assembles Aedes with fleetgate's guards, in the order their dependencies allow: the persistence
 * guards ask the hooks (late-bound, since the hooks need the sessions, whose kicks need the persistence).
 */
export async function assembleBroker(options: BrokerOptions, gateway: Partial<GatewayCallbacks>): Promise<BrokerParts> {
  const denials = new DenialLog(options.logger);
  const retained = new RetainedQuota(options.limits.retained.maxTotalBytes);
  const late: { hooks?: BrokerHooks } = {};
  const persistence = guardedPersistence(options, denials, late);
  const onKick = (deviceId: string, reason: string, closed: number) => {
    options.metrics.mqttKicks.inc(closed);
    options.logger.warn({ service: "mqtt", deviceId, reason, sessions: closed }, "device sessions kicked");
  };
  const onDiscardFailed = (deviceId: string, err: unknown) =>
    options.logger.error({ service: "mqtt", deviceId, err }, "discarding a kicked device's stored session failed");
  const sessions = new LocalSessions(
    options.nodeId,
    { discard: (id) => gateway.discard!(id) },
    onKick,
    onDiscardFailed,
  );
  const hooks = new BrokerHooks({
    ...options,
    sessions,
    maxSubscriptionsPerClient: options.limits.maxSubscriptionsPerClient,
    retained,
    retainedLimits: options.limits.retained.limitsFor,
    denials,
    onSession: (event, session, client) => gateway.onSession?.(event, session, client),
  });
  late.hooks = hooks;
  const broker = await createAedes(options, persistence, hooks);
  return { broker, sessions, persistence, retained, denials, server: tlsServer(options) };
}

function guardedPersistence(
  options: BrokerOptions,
  denials: DenialLog,
  late: { hooks?: BrokerHooks },
): GuardedPersistence {
  const { limits, metrics } = options;
  return new GuardedPersistence(options.persistence, {
    granted: (client, subs) => late.hooks?.grantedOnly(client, subs) ?? [],
    ownsSession: (client) => late.hooks?.ownsSession(client) ?? false,
    isDropped: isDroppedPublish,
    limits: {
      outgoingQueue: limits.maxOutgoingQueue,
      incomingQos2: limits.maxStoredQos2.messages,
      incomingQos2Bytes: limits.maxStoredQos2.bytes,
    },
    onLimit: (reason, clientId) => {
      metrics.mqttDenials.inc({ reason });
      denials.denied(clientId, reason, { deviceId: clientId });
    },
    onStoredQos2: ({ messages, bytes }) => {
      metrics.mqttStoredQos2Messages.inc(messages);
      metrics.mqttStoredQos2Bytes.inc(bytes);
    },
  });
}

/** Aedes with the documented seams only: handlers, `persistence`, `mq`. */
async function createAedes(
  options: BrokerOptions,
  persistence: GuardedPersistence,
  hooks: BrokerHooks,
): Promise<Aedes> {
  const broker = await Aedes.createBroker({
    id: options.nodeId,
    persistence,
    ...(options.mq === undefined ? {} : { mq: options.mq }),
    drainTimeout: 10_000,
    queueLimit: 42,
    heartbeatInterval: 60_000,
    connectTimeout: options.handshakeTimeoutMs,
    preConnect: hooks.preConnect,
    authenticate: hooks.authenticate,
    authorizePublish: hooks.authorizePublish,
    authorizeSubscribe: hooks.authorizeSubscribe,
    authorizeForward: hooks.authorizeForward,
  });
  broker.on("clientDisconnect", hooks.disconnected);
  broker.on("clientError", hooks.clientError);
  broker.on("connectionError", hooks.clientError);
  broker.on("unsubscribe", hooks.unsubscribed);
  // Persistence and emitter failures surface here (a Redis outage in cluster mode); unheard, an
  // 'error' event would end the process.
  // Aedes's typings list no 'error' event; it is an EventEmitter and emits one (aedes.js, DoEnqueues).
  const emitter: EventEmitter = broker;
  emitter.on("error", (error: Error) => {
    options.metrics.mqttStoreErrors.inc();
    options.logger.error({ service: "mqtt", err: error }, "broker store or emitter failed");
  });
  return broker;
}

/** The secure-context part of the TLS server's options: what a reload replaces (setSecureContext). */
export function mqttTlsContext(tls: BrokerOptions["tls"], tickets?: SessionTickets): SecureContextOptions {
  // OpenSSL needs the chain up to a self-signed root; the registry check pins our issuing CAs.
  const context: SecureContextOptions = { key: tls.key, cert: tls.cert, ca: [...tls.ca], minVersion: "TLSv1.2" };
  return tickets === undefined ? context : { ...context, ...ticketContextOptions(tickets) };
}

function tlsServer(options: BrokerOptions): Server {
  return createServer({
    ...mqttTlsContext(options.tls, options.sessionTickets),
    requestCert: true,
    rejectUnauthorized: true,
    handshakeTimeout: options.handshakeTimeoutMs,
  });
}
