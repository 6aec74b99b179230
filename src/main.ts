import { hostname } from "node:os";
import { join } from "node:path";
import type { EnrollmentDeps } from "./app/deps.js";
import { HealthCheck } from "./app/health.js";
import { LastSeen } from "./app/last-seen.js";
import type { RevocationDeps } from "./app/revoke-device.js";
import type { Config } from "./config.js";
import type { KeySpec } from "./domain/csr-policy.js";
import type { CertificateProfile } from "./domain/profile.js";
import { decodeCsr } from "./adapters/ca/csr-decoder.js";
import { InProcessEventBus } from "./adapters/events/in-process-bus.js";
import { createAdminServer } from "./adapters/http/admin-server.js";
import { createEnrollServer } from "./adapters/http/enroll-server.js";
import { replaceListenerTls, type ListenerTls } from "./adapters/http/listener-tls.js";
import { listen } from "./adapters/http/listen.js";
import { createMetricsServer } from "./adapters/http/metrics-server.js";
import { MqttGateway } from "./adapters/mqtt/broker.js";
import { createMemoryPersistence } from "./adapters/mqtt/memory-persistence.js";
import { pkiExists, pkiPaths, type PkiPaths } from "./adapters/shared/key-files.js";
import { SqliteRegistry } from "./adapters/sqlite/registry.js";
import type { Logger } from "./logger.js";
import { Metrics } from "./metrics.js";
import { systemClock, type CertificateSigner, type Clock, type EventBus, type Registry } from "./ports.js";
import { readRuntimeInfo, removeRuntimeInfo, runtimeFile, writeRuntimeInfo } from "./runtime-file.js";
import { initPki } from "../provisioning/init-pki.js";
import { issueFirstOperator } from "../provisioning/operator-credential.js";
import type { CrlPublisher } from "./adapters/ca/crl.js";
import { openPki, startPkiServices, type PkiServices } from "./pki-wiring.js";
import { PkiRuntime } from "./pki-runtime.js";
import { withCaKeys } from "./pki-init.js";

export function registryFile(dataDir: string): string {
  return join(dataDir, "registry.db");
}

export function profilesFrom(config: Config): Map<string, CertificateProfile> {
  return new Map(
    Object.entries(config.profiles).map(([name, p]) => [name, { name, role: p.role, lifetimeMs: p.lifetime }]),
  );
}

function enrollmentDeps(
  config: Config,
  signer: CertificateSigner,
  registry: Registry,
  clock: Clock,
  bus?: EventBus,
): EnrollmentDeps {
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

/**
 * `fleetgate init`: the CA hierarchy (keys in files or, with ca.key / ca.rootKey `pkcs11`, in the token),
 * server certificate, registry and the first operator credential.
 */
export async function initDataDir(
  config: Config,
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<PkiPaths> {
  const paths = pkiPaths(config.dataDir);
  await withCaKeys(config, env, (keys) =>
    initPki(
      paths,
      { hostnames: config.hostnames, keyTypes: { root: config.ca.rootKey, issuing: config.ca.key } },
      keys,
    ),
  );
  const pki = await openPki(config, env);
  const registry = SqliteRegistry.open(registryFile(config.dataDir));
  try {
    const deps = enrollmentDeps(config, pki.signer, registry, systemClock);
    const operator = await issueFirstOperator(deps, config.dataDir);
    logger.info(
      { dataDir: config.dataDir, pki: paths.dir, operator: operator.cert },
      "initialized PKI, registry and operator credential",
    );
  } finally {
    await registry.close();
    await pki.close();
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
  /** The active issuing CA's current CRL (what /crl/issuing-ca.crl serves). */
  readonly crl: Pick<CrlPublisher, "crlNumber" | "der" | "refresh">;
  /** The issuing CAs, server certificate and every CA's CRL; `pki.reload()` is what SIGHUP does. */
  readonly pki: PkiRuntime;
  readonly crls: PkiServices["crls"];
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

function startGateway(
  config: Config,
  nodeId: string,
  tls: ListenerTls,
  deps: EnrollmentDeps,
  bus: EventBus,
  logger: Logger,
  metrics: Metrics,
) {
  const { mqtt } = config;
  const retained = mqtt.retained;
  return MqttGateway.start({
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
  });
}

/** The active CA's publisher, whichever CA that is at the moment of the call. */
function activeCrl(pki: PkiRuntime, services: PkiServices): RunningFleetgate["crl"] {
  const current = () => services.crls.publisher(pki.ring.active.id)!;
  return {
    get crlNumber() {
      return current().crlNumber;
    },
    get der() {
      return current().der;
    },
    refresh: (reason?: string) => current().refresh(reason),
  };
}

async function startListeners(
  config: Config,
  logger: Logger,
  clock: Clock,
  closers: Closers,
  env: NodeJS.ProcessEnv,
): Promise<RunningFleetgate> {
  const nodeId = hostname();
  const registry = closers.add(SqliteRegistry.open(registryFile(config.dataDir)), (r) => r.close());
  const metrics = new Metrics();
  metrics.watchExpiry((before) => registry.countActiveCertificatesExpiringBefore(before));
  const pki = closers.add(await openPki(config, env), (p) => p.close());
  const tls = pki.listenerTls();
  const bus = new InProcessEventBus(logger, nodeId);
  const deps = enrollmentDeps(config, pki.signer, registry, clock, bus);
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
  const gateway = closers.add(await startGateway(config, nodeId, tls, deps, bus, logger, metrics), (g) => g.close());
  bus.onRevocation((event) => gateway.sessions.kick(event.deviceId, `revoked: ${event.reason}`));
  const lastSeen = new LastSeen(registry, clock);
  bus.subscribe((event) => event.type.startsWith("session.") && lastSeen.note(event.deviceId));
  const flusher = setInterval(
    () => void lastSeen.flush().catch((err: unknown) => logger.error({ err }, "lastSeen flush failed")),
    30_000,
  );
  closers.add(flusher, async (timer) => (clearInterval(timer), await lastSeen.flush().catch(() => 0)));
  const revocation: RevocationDeps = { registry, bus, clock };
  const services = closers.add(await startPkiServices({ config, pki, registry, bus, logger, metrics, clock }), (p) =>
    p.stop(),
  );
  const pkiPort = await listen(services.app, "pki", config.pki.host, config.pki.port, logger);
  const adminContext = {
    enrollment: deps,
    revocation,
    sessions: gateway.sessions,
    acl: config.acl,
    pki,
    logger,
    metrics,
  };
  const admin = closers.add(await createAdminServer(adminContext, tls), (s) => s.close());
  // A PKI reload (issuing-CA rollover, new server certificate) reaches every TLS listener's next handshake.
  pki.onReload((reloaded) => {
    const next = reloaded.listenerTls();
    for (const app of [enroll, admin]) replaceListenerTls(app, next);
    gateway.replaceTls(next);
  });
  const adminPort = await listen(admin, "admin", config.admin.host, config.admin.port, logger);
  const health = new HealthCheck(registry, clock, () => ({ sessions: gateway.sessions.size }));
  const metricsServer = closers.add(createMetricsServer(metrics, health, logger), (s) => s.close());
  const metricsPort = await listen(metricsServer, "metrics", config.metrics.host, config.metrics.port, logger);
  const ports = { enroll: enrollPort, mqtt: gateway.port, metrics: metricsPort, admin: adminPort, pki: pkiPort };
  const crl = activeCrl(pki, services);
  const close = () => closers.closeAll();
  return { nodeId, ports, registry, metrics, deps, gateway, revocation, crl, pki, crls: services.crls, close };
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
  env: NodeJS.ProcessEnv = process.env,
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
    const running = await startListeners(config, logger, clock, closers, env);
    writeRuntimeInfo(config.dataDir, { pid: process.pid, ports: running.ports, adminHost: config.admin.host });
    closers.add(config.dataDir, (dataDir) => removeRuntimeInfo(dataDir, process.pid));
    return running;
  } catch (error) {
    await closers.closeAll().catch(() => undefined);
    throw error;
  }
}
