import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import type { EnrollmentDeps } from "./app/deps.js";
import { HealthCheck } from "./app/health.js";
import { LastSeen } from "./app/last-seen.js";
import type { RevocationDeps } from "./app/revoke-device.js";
import type { Config } from "./config.js";
import type { KeySpec } from "./domain/csr-policy.js";
import type { CertificateProfile } from "./domain/profile.js";
import { CrlPublisher } from "./adapters/ca/crl.js";
import { decodeCsr } from "./adapters/ca/csr-decoder.js";
import { loadIssuingCa, type IssuingCa } from "./adapters/ca/issuing-ca.js";
import { OcspResponder } from "./adapters/ca/ocsp.js";
import { X509Signer } from "./adapters/ca/signer.js";
import { InProcessEventBus } from "./adapters/events/in-process-bus.js";
import { createAdminServer } from "./adapters/http/admin-server.js";
import { createEnrollServer } from "./adapters/http/enroll-server.js";
import type { ListenerTls } from "./adapters/http/listener-tls.js";
import { listen } from "./adapters/http/listen.js";
import { createMetricsServer } from "./adapters/http/metrics-server.js";
import { createPkiServer } from "./adapters/http/pki-server.js";
import { MqttGateway, type BrokerOptions } from "./adapters/mqtt/broker.js";
import { createMemoryPersistence } from "./adapters/mqtt/memory-persistence.js";
import { pkiExists, pkiPaths, readPrivateKeyPem, type PkiPaths } from "./adapters/shared/key-files.js";
import { SqliteRegistry } from "./adapters/sqlite/registry.js";
import type { Logger } from "./logger.js";
import { Metrics } from "./metrics.js";
import { systemClock, type Clock, type EventBus, type Registry } from "./ports.js";
import { readRuntimeInfo, removeRuntimeInfo, runtimeFile, writeRuntimeInfo } from "./runtime-file.js";
import { initPki } from "../provisioning/init-pki.js";
import { issueFirstOperator } from "../provisioning/operator-credential.js";

export function registryFile(dataDir: string): string {
  return join(dataDir, "registry.db");
}

export function profilesFrom(config: Config): Map<string, CertificateProfile> {
  return new Map(
    Object.entries(config.profiles).map(([name, p]) => [name, { name, role: p.role, lifetimeMs: p.lifetime }]),
  );
}

export function revocationUrls(config: Config): { crl: string; ocsp: string } {
  const base = config.pki.publicUrl.replace(/\/+$/, "");
  return { crl: `${base}/crl/issuing-ca.crl`, ocsp: `${base}/ocsp` };
}

function enrollmentDeps(
  config: Config,
  paths: PkiPaths,
  ca: IssuingCa,
  registry: Registry,
  clock: Clock,
  bus?: EventBus,
): EnrollmentDeps {
  const signer = X509Signer.create(ca, paths, revocationUrls(config));
  const profiles = profilesFrom(config);
  return {
    registry,
    signer,
    clock,
    profiles,
    allowedKeys: config.allowedKeys as KeySpec[],
    decodeCsr,
    ...(bus ? { bus } : {}),
  };
}

/** `fleetgate init`: the CA hierarchy, server certificate, registry and the first operator credential. */
export async function initDataDir(config: Config, logger: Logger): Promise<PkiPaths> {
  const paths = pkiPaths(config.dataDir);
  await initPki(paths, { hostnames: config.hostnames });
  const registry = SqliteRegistry.open(registryFile(config.dataDir));
  try {
    const deps = enrollmentDeps(config, paths, loadIssuingCa(paths), registry, systemClock);
    const operator = await issueFirstOperator(deps, config.dataDir);
    logger.info(
      { dataDir: config.dataDir, pki: paths.dir, operator: operator.cert },
      "initialized PKI, registry and operator credential",
    );
  } finally {
    await registry.close();
  }
  return paths;
}

export interface RunningFleetgate {
  readonly nodeId: string;
  readonly ports: {
    readonly enroll: number;
    readonly mqtt: number;
    readonly metrics: number;
    readonly admin: number;
    readonly pki: number;
  };
  readonly registry: Registry;
  readonly metrics: Metrics;
  readonly deps: EnrollmentDeps;
  readonly gateway: MqttGateway;
  readonly revocation: RevocationDeps;
  /** The issuing CA's current CRL (what the PKI listener serves). */
  readonly crl: Pick<CrlPublisher, "crlNumber" | "der" | "refresh">;
  close(): Promise<void>;
}

/** What has been opened so far, closed in reverse order (also when start-up fails half-way). */
class Closers {
  private readonly stack: (() => Promise<void> | void)[] = [];
  add<T>(value: T, close: (value: T) => unknown): T {
    this.stack.push(async () => void (await close(value)));
    return value;
  }
  async closeAll(): Promise<void> {
    for (const close of this.stack.splice(0).reverse()) await close();
  }
}

function listenerTls(paths: PkiPaths, ca: IssuingCa): ListenerTls {
  // readPrivateKeyPem refuses a key file others can read.
  return {
    key: readPrivateKeyPem(paths.serverKey),
    cert: readFileSync(paths.serverCert),
    ca: [ca.pem, readFileSync(paths.rootCert, "utf8")],
  };
}

/** The MQTT gateway's options from the configuration (exported so tests can start one over their own store). */
export function gatewayOptions(
  config: Config,
  nodeId: string,
  tls: ListenerTls,
  deps: EnrollmentDeps,
  bus: EventBus,
  logger: Logger,
  metrics: Metrics,
): BrokerOptions {
  const { mqtt } = config;
  const retained = mqtt.retained;
  return {
    nodeId,
    host: mqtt.host,
    port: mqtt.port,
    tls,
    handshakeTimeoutMs: mqtt.handshakeTimeout,
    limits: {
      maxConnections: mqtt.maxConnections,
      maxPending: mqtt.maxPendingConnections,
      maxPendingPerAddress: mqtt.maxPendingPerAddress,
      connectRatePerAddress: mqtt.connectRatePerAddress,
      maxPacketSize: mqtt.maxPacketSize,
      maxFiltersPerSubscribe: mqtt.maxFiltersPerSubscribe,
      maxSubscriptionsPerClient: mqtt.maxSubscriptionsPerClient,
      maxOutgoingQueue: mqtt.maxOutgoingQueue,
      maxStoredQos2: mqtt.maxStoredQos2,
      retained: {
        maxTotalBytes: retained.maxTotalBytes,
        limitsFor: (role) => ({
          maxPerDevice: retained.roles[role]?.maxPerDevice ?? retained.maxPerDevice,
          maxBytesPerDevice: retained.roles[role]?.maxBytesPerDevice ?? retained.maxBytesPerDevice,
        }),
      },
    },
    publishRate: mqtt.publishRate,
    onDeniedPublish: mqtt.onDeniedPublish,
    admission: {
      certificateState: (serial) => deps.registry.certificateState(serial),
      acl: config.acl,
      keepalive: mqtt.keepalive,
      clock: deps.clock,
    },
    acl: config.acl,
    persistence: createMemoryPersistence(),
    onFleetEvent: (event) => bus.publish(event),
    logger,
    metrics,
  };
}

async function startPki(
  config: Config,
  ca: IssuingCa,
  deps: EnrollmentDeps,
  bus: EventBus,
  logger: Logger,
  metrics: Metrics,
  clock: Clock,
) {
  const crl = new CrlPublisher(deps.registry, ca, {
    clock,
    onRefresh: (info) => logger.info({ service: "pki", ...info }, "CRL signed"),
    onError: (err: unknown) => logger.error({ service: "pki", err }, "CRL re-sign failed; previous CRL still served"),
  });
  const ocsp = new OcspResponder(deps.registry, ca, {
    clock,
    onError: (err: unknown) => logger.error({ service: "pki", err }, "OCSP internal error"),
  });
  await crl.refresh("startup");
  crl.start();
  // Subscribed after the kicker: sessions close first, then the CRL is re-signed.
  bus.onRevocation(async () => void (await crl.refresh("revocation")));
  const app = createPkiServer({
    crl,
    ocsp,
    // The files as written by init, byte for byte.
    ca: { rootPem: deps.signer.rootCaPem, issuingPem: readFileSync(pkiPaths(config.dataDir).issuingCert, "utf8") },
    logger,
    metrics,
  });
  return { app, crl };
}

async function startListeners(
  config: Config,
  logger: Logger,
  clock: Clock,
  closers: Closers,
): Promise<RunningFleetgate> {
  const nodeId = hostname();
  const paths = pkiPaths(config.dataDir);
  const registry = closers.add(SqliteRegistry.open(registryFile(config.dataDir)), (r) => r.close());
  const metrics = new Metrics();
  metrics.watchExpiry((before) => registry.countActiveCertificatesExpiringBefore(before));
  const ca = loadIssuingCa(paths);
  const tls = listenerTls(paths, ca);
  const bus = new InProcessEventBus(logger, nodeId);
  const deps = enrollmentDeps(config, paths, ca, registry, clock, bus);
  const enrollOptions = {
    deps,
    tls,
    bodyLimit: config.enroll.bodyLimit,
    rateLimit: config.enroll.rateLimit,
    logger,
    metrics,
  };
  const enroll = closers.add(await createEnrollServer(enrollOptions), (s) => s.close());
  const enrollPort = await listen(enroll, "enroll", config.enroll.host, config.enroll.port, logger);
  const gateway = closers.add(
    await MqttGateway.start(gatewayOptions(config, nodeId, tls, deps, bus, logger, metrics)),
    (g) => g.close(),
  );
  bus.onRevocation((event) => gateway.sessions.kick(event.deviceId, `revoked: ${event.reason}`));
  const lastSeen = new LastSeen(registry, clock);
  bus.subscribe((event) => event.type.startsWith("session.") && lastSeen.note(event.deviceId));
  const flusher = setInterval(
    () => void lastSeen.flush().catch((err: unknown) => logger.error({ err }, "lastSeen flush failed")),
    30_000,
  );
  closers.add(flusher, async (timer) => (clearInterval(timer), await lastSeen.flush().catch(() => 0)));
  const revocation: RevocationDeps = { registry, bus, clock };
  const pki = await startPki(config, ca, deps, bus, logger, metrics, clock);
  closers.add(pki, async (p) => (p.crl.stop(), await p.app.close()));
  const pkiPort = await listen(pki.app, "pki", config.pki.host, config.pki.port, logger);
  const adminContext = { enrollment: deps, revocation, sessions: gateway.sessions, acl: config.acl, logger, metrics };
  const admin = closers.add(await createAdminServer(adminContext, tls), (s) => s.close());
  const adminPort = await listen(admin, "admin", config.admin.host, config.admin.port, logger);
  const health = new HealthCheck(registry, clock, () => ({ sessions: gateway.sessions.size }));
  const metricsServer = closers.add(createMetricsServer(metrics, health, logger), (s) => s.close());
  const metricsPort = await listen(metricsServer, "metrics", config.metrics.host, config.metrics.port, logger);
  const ports = { enroll: enrollPort, mqtt: gateway.port, metrics: metricsPort, admin: adminPort, pki: pkiPort };
  return { nodeId, ports, registry, metrics, deps, gateway, revocation, crl: pki.crl, close: () => closers.closeAll() };
}

/**
 * Wires the adapters and starts every listener; `close` stops them in reverse order. If a
 * listener cannot start (a port in use, a key with the wrong mode), whatever was already
 * started is closed again before the error propagates.
 */
export async function startFleetgate(
  config: Config,
  logger: Logger,
  clock: Clock = systemClock,
): Promise<RunningFleetgate> {
  if (!pkiExists(pkiPaths(config.dataDir))) {
    throw new Error(`no PKI in ${config.dataDir}; run \`fleetgate init --data ${config.dataDir}\` first`);
  }
  // One server per data dir: a second would share the registry but not the live sessions it must kick.
  const other = readRuntimeInfo(config.dataDir);
  if (other && other.pid !== process.pid) {
    const file = runtimeFile(config.dataDir);
    throw new Error(
      `another fleetgate (pid ${other.pid}) is already serving ${config.dataDir}; stop it first (if that pid is not fleetgate, delete ${file})`,
    );
  }
  const closers = new Closers();
  try {
    const running = await startListeners(config, logger, clock, closers);
    writeRuntimeInfo(config.dataDir, { pid: process.pid, ports: running.ports, adminHost: config.admin.host });
    closers.add(config.dataDir, (dataDir) => removeRuntimeInfo(dataDir, process.pid));
    return running;
  } catch (error) {
    await closers.closeAll().catch(() => undefined);
    throw error;
  }
}
