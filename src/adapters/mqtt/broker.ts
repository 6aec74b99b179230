import { Aedes, type Client } from "aedes";
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from "node:net";
import { createServer, type Server, type TLSSocket } from "node:tls";
import type { AdmissionDeps } from "../../app/authorize-client.js";
import type { AclConfig } from "../../domain/acl.js";
import { MqttInspector } from "../../domain/mqtt-inspector.js";
import { PacketSizeGuard } from "../../domain/packet-size-guard.js";
import { RetainedQuota, type RetainedLimits } from "../../domain/retained-quota.js";
import type { RateSpec } from "../../domain/token-bucket.js";
import type { Logger } from "../../logger.js";
import type { Metrics } from "../../metrics.js";
import type { FleetEvent } from "../../ports.js";
import { ConnectionGate, connectionKey } from "./connection-gate.js";
import { DenialLog } from "./denial-log.js";
import { GuardedPersistence } from "./guarded-persistence.js";
import { handshakeFailureReason } from "./handshake-failure.js";
import { BrokerHooks, isDroppedPublish } from "./hooks.js";
import { InspectedConnection, tlsSocketOf } from "./inspected-connection.js";
import type { AedesPersistence } from "./persistence.js";
import { clearRetainedNamespace } from "./retained-cleanup.js";
import { LocalSessions, type Session } from "./sessions.js";

export interface BrokerOptions {
  readonly nodeId: string;
  readonly host: string;
  readonly port: number;
  readonly tls: { readonly key: string; readonly cert: string | Buffer; readonly ca: readonly string[] };
  readonly handshakeTimeoutMs: number;
  readonly limits: {
    readonly maxConnections: number;
    readonly maxPending: number;
    readonly maxPendingPerAddress: number;
    readonly connectRatePerAddress: RateSpec;
    readonly maxPacketSize: number;
    readonly maxFiltersPerSubscribe: number;
    readonly maxSubscriptionsPerClient: number;
    readonly maxOutgoingQueue: number;
    readonly maxStoredQos2: { readonly messages: number; readonly bytes: number };
    readonly retained: { readonly maxTotalBytes: number; readonly limitsFor: (role: string) => RetainedLimits };
  };
  readonly publishRate: RateSpec;
  readonly onDeniedPublish: "disconnect" | "drop";
  readonly admission: AdmissionDeps;
  readonly acl: AclConfig;
  /** The store under the guards (memory by default; Redis in a cluster). */
  readonly persistence: AedesPersistence;
  /** The message fan-out (mqemitter by default; mqemitter-redis in a cluster). */
  readonly mq?: unknown;
  readonly onFleetEvent?: (event: FleetEvent) => void;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/**
 * The MQTT gateway: Aedes behind a TLS server that verifies client certificates against the issuing CA
 * (TLS >= 1.2). Connection caps and per-address rates act on the raw TCP socket, before any handshake
 * work; the packet guard acts on the byte stream, before parsing. Aedes is extended only through its
 * documented seams: the handlers, `persistence` (wrapped by GuardedPersistence), `mq` and `handle(stream)`.
 */
export class MqttGateway {
  private readonly gate: ConnectionGate;
  private readonly openSockets = new Set<Socket>();

  private constructor(
    private readonly options: BrokerOptions,
    readonly broker: Aedes,
    readonly sessions: LocalSessions,
    private readonly persistence: GuardedPersistence,
    private readonly denials: DenialLog,
    private readonly server: Server,
    private readonly tcp: TcpServer = createTcpServer(),
  ) {
    this.gate = new ConnectionGate({ ...options.limits, connectRatePerAddress: options.limits.connectRatePerAddress });
  }

  static async start(options: BrokerOptions): Promise<MqttGateway> {
    const { limits, metrics, logger } = options;
    const denials = new DenialLog(logger);
    const retained = new RetainedQuota(limits.retained.maxTotalBytes);
    let hooks: BrokerHooks | undefined;
    const persistence = new GuardedPersistence(options.persistence, {
      granted: (client, subs) => hooks?.grantedOnly(client, subs) ?? [],
      ownsSession: (client) => hooks?.ownsSession(client) ?? false,
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
    let gateway: MqttGateway | undefined;
    const onKick = (deviceId: string, reason: string, closed: number) => {
      metrics.mqttKicks.inc(closed);
      logger.warn({ service: "mqtt", deviceId, reason, sessions: closed }, "device sessions kicked");
    };
    const sessions = new LocalSessions(options.nodeId, { discard: (id) => gateway!.discard(id, retained) }, onKick);
    hooks = new BrokerHooks({
      ...options,
      sessions,
      maxSubscriptionsPerClient: limits.maxSubscriptionsPerClient,
      retained,
      retainedLimits: limits.retained.limitsFor,
      denials,
      onSession: (event, session, client) => gateway?.onSession(event, session, client),
    });
    const broker = await Aedes.createBroker({
      id: options.nodeId,
      persistence,
      ...(options.mq === undefined ? {} : { mq: options.mq }),
      drainTimeout: 10_000,
      queueLimit: 42,
      heartbeatInterval: 60_000,
      connectTimeout: options.handshakeTimeoutMs,
      preConnect: hooks.preConnect,
      authenticate: hooks.authenticate as never,
      authorizePublish: hooks.authorizePublish as never,
      authorizeSubscribe: hooks.authorizeSubscribe,
      authorizeForward: hooks.authorizeForward,
    });
    broker.on("clientDisconnect", hooks.disconnected);
    broker.on("clientError", hooks.clientError);
    broker.on("connectionError", hooks.clientError);
    broker.on("unsubscribe", hooks.unsubscribed);
    const server = createServer({
      key: options.tls.key,
      cert: options.tls.cert,
      // OpenSSL needs the chain up to a self-signed root; the registry check pins our issuing CA.
      ca: [...options.tls.ca],
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.2",
      handshakeTimeout: options.handshakeTimeoutMs,
    });
    gateway = new MqttGateway(options, broker, sessions, persistence, denials, server);
    await gateway.listen();
    return gateway;
  }

  /**
   * Raw TCP connections are accepted by a plain net server and handed to the TLS server
   * (`emit("connection")`) only when the gate admits them: a refused one costs no TLS work at all.
   */
  private async listen(): Promise<void> {
    const { server, tcp } = this;
    tcp.on("connection", (socket: Socket) => this.onTcpConnection(socket));
    server.on("secureConnection", (socket: TLSSocket) => this.onSecureConnection(socket));
    server.on("tlsClientError", (error: NodeJS.ErrnoException, socket: TLSSocket) =>
      this.onHandshakeFailure(error, socket),
    );
    await new Promise<void>((resolve, reject) => {
      tcp.once("error", reject);
      tcp.listen(this.options.port, this.options.host, () => resolve());
    });
    this.options.logger.info({ service: "mqtt", host: this.options.host, port: this.port }, "mqtt listening");
  }

  get port(): number {
    return (this.tcp.address() as AddressInfo).port;
  }

  private onTcpConnection(socket: Socket): void {
    const refusal = this.gate.accept(socket, Date.now());
    if (refusal !== null) {
      this.options.metrics.mqttDenials.inc({ reason: refusal });
      const ip = socket.remoteAddress;
      this.denials.denied(ip, refusal, { ip }, "connection refused before handshake");
      socket.destroy();
      return;
    }
    const key = connectionKey(socket);
    this.openSockets.add(socket);
    this.options.metrics.mqttConnections.inc();
    this.options.metrics.mqttPendingConnections.inc();
    socket.once("close", () => {
      this.openSockets.delete(socket);
      if (this.gate.closed(key)) this.options.metrics.mqttPendingConnections.dec();
      this.options.metrics.mqttConnections.dec();
    });
    this.server.emit("connection", socket);
  }

  /**
   * Node emits a handshake timeout (and every other TLS failure) here and leaves closing the socket to
   * the listener: without the destroy, a socket that never finishes its handshake stays open for good.
   */
  private onHandshakeFailure(error: NodeJS.ErrnoException, socket: TLSSocket): void {
    socket.destroy();
    // A client certificate that fails verification (unknown CA, expired) does not fail the OpenSSL
    // handshake: Node records it in authorizationError and destroys the socket, so the only error
    // emitted is the ECONNRESET "socket hang up" of that close. The verification error is the reason.
    const verifyError = socket.authorizationError as string | Error | undefined;
    const cause: NodeJS.ErrnoException = verifyError
      ? Object.assign(new Error(String(verifyError)), { code: String(verifyError) })
      : error;
    const reason = handshakeFailureReason(cause);
    this.options.metrics.mqttHandshakeFailures.inc({ reason });
    const fields = { reason, error: cause.code ?? cause.message, ip: socket.remoteAddress };
    this.denials.denied(socket.remoteAddress, `handshake:${reason}`, fields, "TLS handshake failed");
  }

  private onSecureConnection(socket: TLSSocket): void {
    const { maxPacketSize, maxFiltersPerSubscribe } = this.options.limits;
    const guard = new PacketSizeGuard(maxPacketSize, new MqttInspector(maxFiltersPerSubscribe));
    const connection = new InspectedConnection(socket, guard, (refusal) => {
      const reason =
        "size" in refusal
          ? "packet_too_large"
          : refusal.problem === "too_many_filters"
            ? "too_many_filters"
            : "malformed_utf8";
      this.options.metrics.mqttDenials.inc({ reason });
      const fields = "size" in refusal ? { size: refusal.size, limit: maxPacketSize } : {};
      const client = (connection as { client?: Client }).client;
      const deviceId = client ? this.sessions.session(client)?.identity.deviceId : undefined;
      this.denials.denied(deviceId ?? socket.remoteAddress, reason, { ...fields, deviceId, ip: socket.remoteAddress });
    });
    this.broker.handle(connection as never);
  }

  private onSession(event: "opened" | "closed", session: Session, client: Client): void {
    const socket = tlsSocketOf(client.conn);
    if (event === "opened" && socket && this.gate.admitted(connectionKey(socket))) {
      this.options.metrics.mqttPendingConnections.dec();
    }
    const type = event === "opened" ? "session.opened" : "session.closed";
    this.options.onFleetEvent?.({
      type,
      deviceId: session.identity.deviceId,
      node: this.options.nodeId,
      at: Date.now(),
    });
  }

  /** A kicked device's persistent session and retained messages, gone on every node's store. */
  private async discard(deviceId: string, retained: RetainedQuota): Promise<void> {
    await this.persistence.discardSession({ id: deviceId, brokerId: this.broker.id });
    retained.release(deviceId);
    await clearRetainedNamespace(this.persistence, this.options.acl, deviceId);
  }

  get pendingConnections(): number {
    return this.gate.pendingCount;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.broker.close(() => resolve()));
    this.denials.close();
    for (const socket of this.openSockets) socket.destroy();
    await new Promise<void>((resolve) => this.tcp.close(() => resolve()));
  }
}
