import type { Aedes, Client } from "aedes";
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from "node:net";
import type { Server, TLSSocket } from "node:tls";
import { MqttInspector } from "../../domain/mqtt-inspector.js";
import { PacketSizeGuard } from "../../domain/packet-size-guard.js";
import type { RetainedQuota } from "../../domain/retained-quota.js";
import type { BrokerOptions } from "./broker-options.js";
import { assembleBroker, mqttTlsContext, type BrokerParts, type GatewayCallbacks } from "./broker-parts.js";
import { ConnectionGate, connectionKey } from "./connection-gate.js";
import type { DenialLog } from "./denial-log.js";
import type { GuardedPersistence } from "./guarded-persistence.js";
import { handshakeFailureReason } from "./handshake-failure.js";
import { InspectedConnection, tlsSocketOf } from "./inspected-connection.js";
import { clearRetainedOf } from "./retained-cleanup.js";
import type { LocalSessions, Session } from "./sessions.js";

export type { BrokerOptions } from "./broker-options.js";

/**
 * The MQTT gateway: Aedes behind a TLS server that verifies client certificates against the issuing CA
 * (TLS >= 1.2). Connection caps and per-address rates act on the raw TCP socket, before any handshake
 * work; the packet guard acts on the byte stream, before parsing. Aedes is extended only through its
 * documented seams: the handlers, `persistence` (wrapped by GuardedPersistence), `mq` and `handle(stream)`.
 */
export class MqttGateway {
  private readonly gate: ConnectionGate;
  private readonly openSockets = new Set<Socket>();

  readonly broker: Aedes;
  readonly sessions: LocalSessions;
  private readonly persistence: GuardedPersistence;
  private readonly retained: RetainedQuota;
  private readonly denials: DenialLog;
  private readonly server: Server;
  private readonly tcp: TcpServer = createTcpServer();
  private stopRotation: (() => void) | undefined;

  private constructor(
    private readonly options: BrokerOptions,
    parts: BrokerParts,
  ) {
    ({ broker: this.broker, sessions: this.sessions, persistence: this.persistence } = parts);
    ({ retained: this.retained, denials: this.denials, server: this.server } = parts);
    this.gate = new ConnectionGate({ ...options.limits, connectRatePerAddress: options.limits.connectRatePerAddress });
  }

  static async start(options: BrokerOptions): Promise<MqttGateway> {
    const callbacks: Partial<GatewayCallbacks> = {};
    const parts = await assembleBroker(options, callbacks);
    const gateway = new MqttGateway(options, parts);
    callbacks.discard = (deviceId) => gateway.discard(deviceId);
    callbacks.onSession = (event, session, client) => gateway.onSession(event, session, client);
    await gateway.listen();
    return gateway;
  }

  /**
   * Raw TCP connections are accepted by a plain net server and handed to the TLS server
   * (`emit("connection")`) only when the gate admits them: a refused one costs no TLS work at all.
   */
  private async listen(): Promise<void> {
    const { server, tcp } = this;
    this.stopRotation = this.options.sessionTickets?.onRotate((keys) => server.setTicketKeys(keys));
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
    this.broker.handle(connection);
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
  private async discard(deviceId: string): Promise<void> {
    await this.persistence.discardSession({ id: deviceId, brokerId: this.broker.id });
    const owned = this.retained.release(deviceId);
    await clearRetainedOf(this.persistence, this.options.acl, deviceId, owned);
  }

  /**
   * A new server certificate and client CAs (issuing-CA rollover) for the handshakes from now on; sessions
   * already open are untouched. A client is still admitted only once the registry says its serial is active.
   */
  replaceTls(tls: BrokerOptions["tls"]): void {
    this.server.setSecureContext(mqttTlsContext(tls, this.options.sessionTickets));
  }

  get pendingConnections(): number {
    return this.gate.pendingCount;
  }

  async close(): Promise<void> {
    this.stopRotation?.();
    await new Promise<void>((resolve) => this.broker.close(() => resolve()));
    this.denials.close();
    for (const socket of this.openSockets) socket.destroy();
    await new Promise<void>((resolve) => this.tcp.close(() => resolve()));
  }
}
