import { Aedes, type Client, type Subscription } from "aedes";
import { readFileSync } from "node:fs";
import type { AddressInfo, Socket } from "node:net";
import { createServer, type Server, type TLSSocket } from "node:tls";
import type { AdmissionDeps } from "../../app/authorize-client.js";
import type { MqttDenial } from "../../domain/mqtt-refusals.js";
import { PacketSizeGuard } from "../../domain/packet-size-guard.js";
import { KeyedTokenBucket, type RateSpec } from "../../domain/token-bucket.js";
import type { Logger } from "../../logger.js";
import type { Metrics } from "../../metrics.js";
import { readPrivateKeyPem, type PkiPaths } from "../ca/key-store.js";
import { BrokerHooks } from "./hooks.js";
import { boundOutgoingQueues } from "./outgoing-queue-bound.js";
import { SessionRegistry } from "./session-kicker.js";

export interface BrokerOptions {
  readonly host: string;
  readonly port: number;
  readonly pki: PkiPaths;
  readonly issuingCaPem: string;
  readonly rootCaPem: string;
  readonly handshakeTimeoutMs: number;
  readonly maxConnections: number;
  readonly connectRatePerAddress: RateSpec;
  readonly maxPacketSize: number;
  readonly publishRate: RateSpec;
  readonly maxOutgoingQueue: number;
  readonly onDeniedPublish: "disconnect" | "drop";
  readonly admission: AdmissionDeps;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** Node's handshake errors → the reason label of fleetgate_mqtt_handshake_failures_total. */
export function handshakeFailureReason(error: NodeJS.ErrnoException): string {
  const text = `${error.code ?? ""} ${error.message}`.toUpperCase();
  if (text.includes("TIMEOUT")) return "timeout";
  if (text.includes("PEER_DID_NOT_RETURN_A_CERTIFICATE")) return "no_certificate";
  if (text.includes("EXPIRED")) return "certificate_expired";
  if (text.includes("NOT_YET_VALID")) return "certificate_not_yet_valid";
  if (
    text.includes("UNKNOWN_CA") ||
    text.includes("UNABLE_TO_GET_ISSUER") ||
    text.includes("CERTIFICATE_VERIFY_FAILED") ||
    text.includes("VERIFY") ||
    text.includes("SELF_SIGNED")
  )
    return "certificate_untrusted";
  if (text.includes("VERSION") || text.includes("PROTOCOL")) return "protocol_version";
  if (text.includes("ECONNRESET") || text.includes("SOCKET HANG UP")) return "reset";
  return "other";
}

/**
 * The MQTT gateway: Aedes behind a TLS server that verifies client certificates against the
 * issuing CA (TLS >= 1.2). Connection caps and per-address rates act on the raw TCP socket,
 * before any handshake work; the packet-size limit acts on the byte stream, before parsing.
 */
export class MqttGateway {
  private readonly openSockets = new Set<Socket>();
  private readonly refusedSockets = new WeakSet<Socket>();
  private readonly connectBuckets: KeyedTokenBucket;

  private constructor(
    private readonly options: BrokerOptions,
    readonly broker: Aedes,
    readonly sessions: SessionRegistry,
    private readonly server: Server,
  ) {
    this.connectBuckets = new KeyedTokenBucket(options.connectRatePerAddress);
  }

  static async start(options: BrokerOptions): Promise<MqttGateway> {
    const broker = await Aedes.createBroker({
      drainTimeout: 10_000,
      queueLimit: 42,
      heartbeatInterval: 60_000,
      connectTimeout: options.handshakeTimeoutMs,
    });
    const sessions = new SessionRegistry(broker, options.logger, options.metrics);
    const hooks = new BrokerHooks({ ...options, sessions });
    installHooks(broker, hooks);
    boundOutgoingQueues(
      (broker as unknown as { persistence: Parameters<typeof boundOutgoingQueues>[0] }).persistence,
      options.maxOutgoingQueue,
      (clientId) => {
        options.metrics.mqttDenials.inc({ reason: "outgoing_queue_full" });
        options.logger.warn({ service: "mqtt", deviceId: clientId, reason: "outgoing_queue_full" }, "denied");
      },
    );
    const server = createServer({
      key: readPrivateKeyPem(options.pki.serverKey), // refuses a key file others can read
      cert: readFileSync(options.pki.serverCert),
      // OpenSSL needs the chain up to a self-signed root; the registry check pins our issuing CA.
      ca: [options.issuingCaPem, options.rootCaPem],
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.2",
      handshakeTimeout: options.handshakeTimeoutMs,
    });
    const gateway = new MqttGateway(options, broker, sessions, server);
    server.on("connection", (socket: Socket) => gateway.onTcpConnection(socket));
    server.on("secureConnection", (socket: TLSSocket) => gateway.onSecureConnection(socket));
    server.on("tlsClientError", (error: NodeJS.ErrnoException, socket: TLSSocket) =>
      gateway.onHandshakeFailure(error, socket),
    );
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port, options.host, () => resolve());
    });
    options.logger.info({ service: "mqtt", host: options.host, port: gateway.port }, "mqtt listening");
    return gateway;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  private onTcpConnection(socket: Socket): void {
    const address = socket.remoteAddress ?? "unknown";
    const refusal: MqttDenial | null =
      this.openSockets.size >= this.options.maxConnections
        ? "connection_limit_reached"
        : this.connectBuckets.take(address, Date.now())
          ? null
          : "connection_rate_exceeded";
    if (refusal !== null) {
      this.refusedSockets.add(socket);
      this.options.metrics.mqttDenials.inc({ reason: refusal });
      this.options.logger.warn(
        { service: "mqtt", reason: refusal, ip: address },
        "connection refused before handshake",
      );
      socket.destroy();
      return;
    }
    this.openSockets.add(socket);
    this.options.metrics.mqttConnections.inc();
    socket.once("close", () => {
      this.openSockets.delete(socket);
      this.options.metrics.mqttConnections.dec();
    });
  }

  private onHandshakeFailure(error: NodeJS.ErrnoException, socket: TLSSocket): void {
    const raw = (socket as unknown as { _parent?: Socket })._parent;
    if (raw && this.refusedSockets.has(raw)) return;
    // A client certificate that fails verification (unknown CA, expired) does not fail the OpenSSL
    // handshake: Node records it in authorizationError and destroys the socket, so the only error
    // emitted is the ECONNRESET "socket hang up" of that close. The verification error is the reason.
    const verifyError = socket.authorizationError as string | Error | undefined;
    const cause: NodeJS.ErrnoException = verifyError
      ? Object.assign(new Error(String(verifyError)), { code: String(verifyError) })
      : error;
    const reason = handshakeFailureReason(cause);
    this.options.metrics.mqttHandshakeFailures.inc({ reason });
    this.options.logger.warn(
      { service: "mqtt", reason, error: cause.code ?? cause.message, ip: raw?.remoteAddress },
      "TLS handshake failed",
    );
  }

  private onSecureConnection(socket: TLSSocket): void {
    guardPacketSize(socket, this.options.maxPacketSize, (size) => {
      this.options.metrics.mqttDenials.inc({ reason: "packet_too_large" });
      this.options.logger.warn(
        {
          service: "mqtt",
          reason: "packet_too_large",
          size,
          limit: this.options.maxPacketSize,
          ip: socket.remoteAddress,
        },
        "denied",
      );
    });
    this.broker.handle(socket);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.broker.close(() => resolve()));
    for (const socket of this.openSockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function installHooks(broker: Aedes, hooks: BrokerHooks): void {
  broker.preConnect = hooks.preConnect;
  broker.authenticate = hooks.authenticate;
  broker.authorizePublish = hooks.authorizePublish;
  broker.authorizeSubscribe = hooks.authorizeSubscribe;
  broker.authorizeForward = hooks.authorizeForward;
  broker.on("clientDisconnect", hooks.disconnected);
  broker.on("clientError", hooks.clientError);
  broker.on("connectionError", hooks.clientError);
  const persistence = (
    broker as unknown as { persistence: { addSubscriptions(client: Client, subs: Subscription[]): Promise<void> } }
  ).persistence;
  const addSubscriptions = persistence.addSubscriptions.bind(persistence);
  // Denied filters must never be persisted (see BrokerHooks.grantedOnly).
  persistence.addSubscriptions = (client, subs) => addSubscriptions(client, hooks.grantedOnly(client, subs));
}

/**
 * Aedes reads the socket with `read()` on 'readable'; every chunk it takes passes the size
 * guard first, so a packet over the limit closes the connection before Aedes parses it.
 */
function guardPacketSize(socket: TLSSocket, maxPacketSize: number, onTooLarge: (size: number) => void): void {
  const guard = new PacketSizeGuard(maxPacketSize);
  const read = socket.read.bind(socket);
  socket.read = (size?: number) => {
    const chunk = read(size) as Buffer | null;
    if (chunk === null) return null;
    const verdict = guard.feed(chunk);
    if (verdict.ok) return chunk;
    onTooLarge(verdict.size);
    socket.destroy();
    return null;
  };
}
