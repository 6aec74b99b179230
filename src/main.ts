import { join } from "node:path";
import type { EnrollmentDeps } from "./app/deps.js";
import type { RevocationDeps } from "./app/revoke-device.js";
import type { Config } from "./config.js";
import type { KeySpec } from "./domain/csr-policy.js";
import type { CertificateProfile } from "./domain/profile.js";
import { decodeCsr } from "./adapters/ca/csr-decoder.js";
import { pkiExists, pkiPaths, type PkiPaths } from "./adapters/ca/key-store.js";
import { X509Signer } from "./adapters/ca/signer.js";
import { InProcessEventBus } from "./adapters/events/in-process-bus.js";
import { createAdminServer } from "./adapters/http/admin-server.js";
import { createEnrollServer, listen } from "./adapters/http/enroll-server.js";
import { createMetricsServer } from "./adapters/http/metrics-server.js";
import { createPkiService } from "./adapters/http/pki-server.js";
import { MqttGateway } from "./adapters/mqtt/broker.js";
import { SqliteRegistry } from "./adapters/sqlite/registry.js";
import type { Logger } from "./logger.js";
import { Metrics } from "./metrics.js";
import { systemClock, type Clock } from "./ports.js";
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

async function enrollmentDeps(
  config: Config,
  paths: PkiPaths,
  registry: SqliteRegistry,
  clock: Clock,
): Promise<EnrollmentDeps> {
  const signer = await X509Signer.load(paths, revocationUrls(config));
  return {
    registry,
    signer,
    clock,
    profiles: profilesFrom(config),
    allowedKeys: config.allowedKeys as KeySpec[],
    decodeCsr,
  };
}

/** `fleetgate init`: the CA hierarchy, server certificate, registry and the first operator credential. */
export async function initDataDir(config: Config, logger: Logger): Promise<PkiPaths> {
  const paths = pkiPaths(config.dataDir);
  await initPki(paths, { hostnames: config.hostnames });
  const registry = SqliteRegistry.open(registryFile(config.dataDir));
  try {
    const operator = await issueFirstOperator(
      await enrollmentDeps(config, paths, registry, systemClock),
      config.dataDir,
    );
    logger.info(
      { dataDir: config.dataDir, pki: paths.dir, operator: operator.cert },
      "initialized PKI, registry and operator credential",
    );
  } finally {
    registry.close();
  }
  return paths;
}

export interface RunningFleetgate {
  readonly ports: {
    readonly enroll: number;
    readonly mqtt: number;
    readonly metrics: number;
    readonly admin: number;
    readonly pki: number;
  };
  readonly registry: SqliteRegistry;
  readonly metrics: Metrics;
  readonly deps: EnrollmentDeps;
  readonly gateway: MqttGateway;
  readonly revocation: RevocationDeps;
  close(): Promise<void>;
}

function startGateway(
  config: Config,
  paths: PkiPaths,
  deps: EnrollmentDeps,
  registry: SqliteRegistry,
  logger: Logger,
  metrics: Metrics,
): Promise<MqttGateway> {
  const { mqtt } = config;
  return MqttGateway.start({
    host: mqtt.host,
    port: mqtt.port,
    pki: paths,
    issuingCaPem: deps.signer.issuingCaPem,
    rootCaPem: deps.signer.rootCaPem,
    handshakeTimeoutMs: mqtt.handshakeTimeout,
    maxConnections: mqtt.maxConnections,
    connectRatePerAddress: mqtt.connectRatePerAddress,
    maxPacketSize: mqtt.maxPacketSize,
    publishRate: mqtt.publishRate,
    maxOutgoingQueue: mqtt.maxOutgoingQueue,
    onDeniedPublish: mqtt.onDeniedPublish,
    admission: {
      isCertificateActive: async (serial, deviceId) => registry.isCertificateActiveSync(serial, deviceId),
      acl: config.acl,
      keepalive: mqtt.keepalive,
      clock: deps.clock,
    },
    logger,
    metrics,
  });
}

/** What has been opened so far, closed in reverse order (also when start-up fails half-way). */
class Closers {
  private readonly stack: (() => Promise<void> | void)[] = [];
  add<T>(value: T, close: (value: T) => Promise<unknown> | unknown): T {
    this.stack.push(async () => void (await close(value)));
    return value;
  }
  async closeAll(): Promise<void> {
    for (const close of this.stack.splice(0).reverse()) await close();
  }
}

async function startListeners(
  config: Config,
  logger: Logger,
  clock: Clock,
  closers: Closers,
): Promise<RunningFleetgate> {
  const paths = pkiPaths(config.dataDir);
  const registry = closers.add(SqliteRegistry.open(registryFile(config.dataDir)), (r) => r.close());
  const metrics = new Metrics();
  metrics.watchExpiry((before) => registry.countActiveCertificatesExpiringBefore(before));
  const deps = await enrollmentDeps(config, paths, registry, clock);
  const enroll = closers.add(
    await createEnrollServer({
      deps,
      pki: paths,
      bodyLimit: config.enroll.bodyLimit,
      rateLimit: config.enroll.rateLimit,
      logger,
      metrics,
    }),
    (s) => s.close(),
  );
  const enrollPort = await listen(enroll, "enroll", config.enroll.host, config.enroll.port, logger);
  const gateway = closers.add(await startGateway(config, paths, deps, registry, logger, metrics), (g) => g.close());
  const bus = new InProcessEventBus(logger);
  bus.onRevocation((event) => gateway.sessions.kick(event.deviceId, `revoked: ${event.reason}`));
  const revocation: RevocationDeps = { registry, bus, clock };
  // Subscribed after the kicker: sessions close first, then the CRL is re-signed.
  const pki = closers.add(
    await createPkiService({ registry, bus, pki: paths, logger, metrics, crl: { clock }, ocsp: { clock } }),
    (p) => p.close(),
  );
  const pkiPort = await listen(pki.app, "pki", config.pki.host, config.pki.port, logger);
  const admin = closers.add(
    createAdminServer(
      { enrollment: deps, revocation, sessions: gateway.sessions, acl: config.acl, logger, metrics },
      paths,
    ),
    (s) => s.close(),
  );
  const adminPort = await listen(admin, "admin", config.admin.host, config.admin.port, logger);
  const health = { check: () => (registry.ping(), { registry: "ok", sessions: gateway.sessions.size }) };
  const metricsServer = closers.add(createMetricsServer(metrics, health, logger), (s) => s.close());
  const metricsPort = await listen(metricsServer, "metrics", config.metrics.host, config.metrics.port, logger);
  const ports = { enroll: enrollPort, mqtt: gateway.port, metrics: metricsPort, admin: adminPort, pki: pkiPort };
  return { ports, registry, metrics, deps, gateway, revocation, close: () => closers.closeAll() };
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
  if (!pkiExists(pkiPaths(config.dataDir)))
    throw new Error(`no PKI in ${config.dataDir}; run \`fleetgate init --data ${config.dataDir}\` first`);
  // One server per data dir: a second would share the registry but not the live sessions it must kick.
  const other = readRuntimeInfo(config.dataDir);
  if (other && other.pid !== process.pid)
    throw new Error(
      `another fleetgate (pid ${other.pid}) is already serving ${config.dataDir}; stop it first (if that pid is not fleetgate, delete ${runtimeFile(config.dataDir)})`,
    );
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
