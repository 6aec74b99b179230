import { join } from "node:path";
import type { EnrollmentDeps } from "./app/deps.js";
import { HealthCheck } from "./app/health.js";
import { LastSeen } from "./app/last-seen.js";
import type { RevocationDeps } from "./app/revoke-device.js";
import type { Config } from "./config.js";
import type { KeySpec } from "./domain/csr-policy.js";
import type { CertificateProfile } from "./domain/profile.js";
import type { CrlPublisher } from "./adapters/ca/crl.js";
import { RingNotaries } from "./adapters/ca/notary.js";
import { decodeCsr } from "./adapters/ca/csr-decoder.js";
import { InProcessEventBus } from "./adapters/events/in-process-bus.js";
import { createAdminServer } from "./adapters/http/admin-server.js";
import { createEnrollServer } from "./adapters/http/enroll-server.js";
import { replaceListenerTls } from "./adapters/http/listener-tls.js";
import { listen } from "./adapters/http/listen.js";
import { createMetricsServer } from "./adapters/http/metrics-server.js";
import { MqttGateway } from "./adapters/mqtt/broker.js";
import { pkiExists, pkiPaths, type PkiPaths } from "./adapters/shared/key-files.js";
import { loadTicketSecret } from "./adapters/shared/ticket-keys.js";
import type { Logger } from "./logger.js";
import { Metrics } from "./metrics.js";
import {
  systemClock,
  type CertificateSigner,
  type Clock,
  type EventBus,
  type Registry,
  type SessionDirectory,
} from "./ports.js";
import { startActivitySampler } from "./activity-sampler.js";
import { removeRuntimeInfo, writeRuntimeInfo } from "./runtime-file.js";
import { DataDirLock } from "./data-dir-lock.js";
import { mqttConnectionCap } from "./fd-limit.js";
import { initPki } from "../provisioning/init-pki.js";
import { issueFirstOperator } from "../provisioning/operator-credential.js";
import { connectCluster } from "./wiring/cluster.js";
import { startGateway } from "./wiring/gateway.js";
import { startTicketRotation } from "./wiring/tls-tickets.js";
import { openPki, startPkiServices, type PkiServices } from "./wiring/pki.js";
import { withCaKeys } from "./wiring/pki-init.js";
import type { PkiRuntime } from "./wiring/pki-runtime.js";
import { nodeIdOf, openRegistry } from "./wiring/registry.js";

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
  const keyTypes = { root: config.ca.rootKey, issuing: config.ca.key };
  await withCaKeys(config, env, (keys) => initPki(paths, { hostnames: config.hostnames, keyTypes }, keys));
  loadTicketSecret(paths.ticketSecret); // made now, so that copying pki/ to other nodes copies it too
  const pki = await openPki(config, env);
  const registry = await openRegistry(config).catch(async (error: unknown) => {
    await pki.close();
    throw error;
  });
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
  /** Live sessions: this node's, or every node's in a cluster. */
  readonly sessions: SessionDirectory;
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

/** The parts every listener shares: registry, CA, bus (in-process, or Redis in a cluster), metrics. */
async function openCore(config: Config, logger: Logger, clock: Clock, closers: Closers, env: NodeJS.ProcessEnv) {
  const nodeId = nodeIdOf(config);
  const registry = closers.add(await openRegistry(config), (r) => r.close());
  const cluster = config.cluster.redis === undefined ? null : await connectCluster(config, nodeId, logger);
  if (cluster !== null) closers.add(cluster, (c) => c.close());
  const metrics = new Metrics();
  if (cluster !== null) metrics.registry.setDefaultLabels({ node: nodeId });
  metrics.watchExpiry((before) => registry.countActiveCertificatesExpiringBefore(before));
  const pki = closers.add(await openPki(config, env), (p) => p.close());
  const bus: EventBus = cluster?.bus ?? new InProcessEventBus(logger, nodeId);
  const deps = enrollmentDeps(config, pki.signer, registry, clock, bus);
  return { nodeId, registry, cluster, metrics, pki, tls: pki.listenerTls(), bus, deps };
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

/** `lastSeenAt`, written in batches from the session events this node sees. */
function recordLastSeen(registry: Registry, bus: EventBus, clock: Clock, logger: Logger, closers: Closers): void {
  const lastSeen = new LastSeen(registry, clock);
  bus.subscribe(
    (event) => (event.type === "session.opened" || event.type === "session.closed") && lastSeen.note(event.deviceId),
  );
  const flush = () => void lastSeen.flush().catch((err: unknown) => logger.error({ err }, "lastSeen flush failed"));
  const timer = setInterval(flush, 30_000);
  closers.add(timer, async (t) => (clearInterval(t), await lastSeen.flush().catch(() => 0)));
}

async function startListeners(
  config: Config,
  mqttMaxConnections: number,
  logger: Logger,
  clock: Clock,
  closers: Closers,
  env: NodeJS.ProcessEnv,
): Promise<RunningFleetgate> {
  const core = await openCore(config, logger, clock, closers, env);
  const { nodeId, registry, metrics, tls, bus, deps, cluster, pki } = core;
  const observe = { logger, metrics };
  const { bodyLimit, rateLimit } = config.enroll;
  const tickets = closers.add(startTicketRotation(config), (rotation) => rotation.stop());
  const sessionTickets = tickets.listener("enroll");
  const enrollOptions = { deps, tls, sessionTickets, bodyLimit, rateLimit, limits: config.enroll, ...observe };
  const enroll = closers.add(await createEnrollServer(enrollOptions), (s) => s.close());
  const enrollPort = await listen(enroll, "enroll", config.enroll.host, config.enroll.port, logger);
  const node = { nodeId, maxConnections: mqttMaxConnections, sessionTickets: tickets.listener("mqtt") };
  const gateway = closers.add(await startGateway(config, node, tls, deps, bus, cluster, observe), (g) => g.close());
  bus.onRevocation((event) => gateway.sessions.kick(event.deviceId, `revoked: ${event.reason}`));
  const sessions = cluster === null ? gateway.sessions : await cluster.attach(gateway, registry);
  recordLastSeen(registry, bus, clock, logger, closers);
  const revocation: RevocationDeps = { registry, bus, clock };
  const clustered = cluster !== null;
  const services = closers.add(
    await startPkiServices({ config, pki, registry, bus, clock, clustered, nodeId, ...observe }),
    (p) => p.stop(),
  );
  const pkiPort = await listen(services.app, "pki", config.pki.host, config.pki.port, logger);
  const activity = closers.add(startActivitySampler(metrics, clock, logger), (sampler) => sampler.stop()).series;
  const notaries = new RingNotaries(() => pki.ring.trusted.map((loaded) => loaded.ca));
  const adminContext = {
    ...{ nodeId, enrollment: deps, revocation, sessions, acl: config.acl, notaries, pki, activity },
    ...observe,
  };
  const { rateLimit: adminRateLimit, refusalAuditInterval } = config.admin;
  const adminOptions = { tls, limits: config.admin, rateLimit: adminRateLimit, refusalAuditInterval };
  const admin = closers.add(await createAdminServer(adminContext, adminOptions), (s) => s.close());
  // A PKI reload (issuing-CA rollover, new server certificate) reaches every TLS listener's next handshake.
  pki.onReload((reloaded) => {
    const next = reloaded.listenerTls();
    replaceListenerTls(enroll, next, sessionTickets);
    replaceListenerTls(admin, next);
    gateway.replaceTls(next);
  });
  // Admin and metrics are each worker's own under `serve --workers N` (README "Workers on one host").
  const adminPort = await listen(admin, "admin", config.admin.host, config.admin.port, logger, true);
  const health = new HealthCheck(registry, clock, async () => ({
    sessions: gateway.sessions.size,
    ...(cluster === null ? {} : { redis: await cluster.health() }),
  }));
  const metricsServer = closers.add(createMetricsServer(metrics, health, logger, config.metrics), (s) => s.close());
  const metricsPort = await listen(metricsServer, "metrics", config.metrics.host, config.metrics.port, logger, true);
  const ports = { enroll: enrollPort, mqtt: gateway.port, metrics: metricsPort, admin: adminPort, pki: pkiPort };
  return {
    nodeId,
    ports,
    registry,
    metrics,
    deps,
    gateway,
    revocation,
    sessions,
    crl: activeCrl(pki, services),
    pki,
    crls: services.crls,
    close: () => closers.closeAll(),
  };
}

/** `serve` for the embedded single node (run/serve.lock, run/fleetgate.json), the node id in a cluster. */
function serverName(config: Config): string | undefined {
  return config.cluster.redis === undefined ? undefined : nodeIdOf(config);
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
  // An OS lock, so neither a deleted runtime file nor a stale pid in it decides (src/data-dir-lock.ts).
  // Cluster nodes on one host share the data dir: one lock (and one runtime file) per node id.
  const lock = DataDirLock.acquire(config.dataDir, serverName(config));
  const closers = new Closers();
  closers.add(lock, (l) => l.release());
  try {
    const mqttMaxConnections = mqttConnectionCap(config, logger);
    const running = await startListeners(config, mqttMaxConnections, logger, clock, closers, env);
    const runtime = { pid: process.pid, nodeId: running.nodeId, ports: running.ports, adminHost: config.admin.host };
    writeRuntimeInfo(config.dataDir, runtime, serverName(config));
    closers.add(config.dataDir, (dataDir) => removeRuntimeInfo(dataDir, process.pid, serverName(config)));
    return running;
  } catch (error) {
    await closers.closeAll().catch(() => undefined);
    throw error;
  }
}
