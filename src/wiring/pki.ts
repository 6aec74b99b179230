import type { FastifyInstance } from "fastify";
import { pruneSupersededCertificates } from "../app/prune-certificates.js";
import { findCa } from "../adapters/ca/ca-ring.js";
import { CrlSet } from "../adapters/ca/crl-set.js";
import { OcspResponder } from "../adapters/ca/ocsp.js";
import { Pkcs11KeyError } from "../adapters/ca/pkcs11/errors.js";
import { createPkiServer } from "../adapters/http/pki-server.js";
import { ConfigError, type Config } from "../config.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import { PkiRuntime } from "./pki-runtime.js";
import type { Clock, EventBus, Registry } from "../ports.js";
import { x509 } from "../adapters/shared/x509.js";

/**
 * The server's PKI: its issuing CAs (file or token keys), their CRLs and OCSP, the PKI listener, the
 * certificate expiry metrics and the job that prunes superseded certificates. Kept apart from main.ts,
 * which only asks for it and hands its TLS material to the listeners.
 */

/**
 * The CA keys, or stops start-up. A token that cannot be used (wrong PIN, no such token, a module that
 * does not load, no pkcs11 configuration) is a configuration problem: ConfigError, whose message the CLI
 * prints without a stack trace, exit code 2.
 */
export function openPki(config: Config, env: NodeJS.ProcessEnv): Promise<PkiRuntime> {
  return openPkiErrors(() => PkiRuntime.open(config, env));
}

/** Runs `work`, turning a PKCS#11 failure into the ConfigError the CLI reports with exit code 2. */
export async function openPkiErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof Pkcs11KeyError) throw new ConfigError(`${error.message} [${error.code}]`, { cause: error });
    throw error;
  }
}

export interface PkiServices {
  readonly app: FastifyInstance;
  readonly crls: CrlSet;
  stop(): Promise<void>;
}

export interface PkiServiceOptions {
  readonly config: Config;
  readonly pki: PkiRuntime;
  readonly registry: Registry;
  readonly bus: EventBus;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly clock: Clock;
  /** Cluster mode: other nodes sign CRLs too; this one serves the newest stored one. */
  readonly clustered: boolean;
  readonly nodeId: string;
}

/** In cluster mode every node re-reads the stored CRLs this often (another node may have signed one). */
const ADOPT_EVERY_MS = 2000;

export async function startPkiServices(options: PkiServiceOptions): Promise<PkiServices> {
  const { pki, registry, bus, logger, clock } = options;
  const crls = new CrlSet(registry, {
    clock,
    onRefresh: (info) => logger.info({ service: "pki", ...info }, "CRL signed"),
    onError: (err: unknown) => logger.error({ service: "pki", err }, "CRL re-sign failed; previous CRL still served"),
  });
  await crls.sync(pki.ring);
  pki.onReload(() => crls.sync(pki.ring));
  // Subscribed after the kicker: sessions close first, then the CRLs are re-signed. The node that committed
  // the revocation signs; the others serve what it stored (same bytes, same number on every node).
  bus.onRevocation(
    async (_event, origin) => void (origin === "local" ? await crls.refresh("revocation") : await crls.adopt()),
  );
  const adopting = options.clustered
    ? setInterval(() => void crls.adopt().catch(() => undefined), ADOPT_EVERY_MS)
    : null;
  adopting?.unref();
  if (options.clustered) followPeerReloads(options);
  // A renewal's superseded certificate goes on the next CRL, coalesced (OCSP answers for it at once).
  bus.subscribe((event) => event.type === "device.renewed" && crls.refreshSoon("renewal"));
  const ocsp = new OcspResponder(registry, () => pki.ocspIssuers(), {
    clock,
    onError: (err: unknown) => logger.error({ service: "pki", err }, "OCSP internal error"),
  });
  const app = createPkiServer({
    issuingCas: {
      active: () => pki.ring.active.id,
      certificatePem: (id) => findCa(pki.ring, id)?.ca.pem,
      crl: (id) => crls.der(id),
    },
    ocsp,
    rootPem: pki.ring.rootPem,
    limits: options.config.pki,
    logger,
    metrics: options.metrics,
  });
  watchCertificates(pki, options.metrics);
  const pruner = startPruning(options);
  return {
    app,
    crls,
    async stop() {
      clearInterval(pruner);
      if (adopting !== null) clearInterval(adopting);
      crls.stop();
      await app.close();
    },
  };
}

/**
 * Cluster mode: another node reloaded pki/ for an operator (`ca activate`, `ca retire`, a new server
 * certificate): this node reloads its own pki/ — the same directory on one host; on several hosts the
 * operator copies pki/ to each first (README "Running a cluster"). A reload that fails keeps the old PKI.
 */
function followPeerReloads({ pki, bus, nodeId, logger }: PkiServiceOptions): void {
  bus.subscribe((event) => {
    if (event.type !== "pki.reloaded" || event.node === nodeId) return;
    pki.reload().then(
      (result) => logger.info({ service: "pki", from: event.node, ...result }, "PKI reloaded after a peer's reload"),
      (err: unknown) => logger.error({ service: "pki", from: event.node, err }, "PKI reload after a peer's failed"),
    );
  });
}

function watchCertificates(pki: PkiRuntime, metrics: Metrics): void {
  const rootNotAfter = new x509.X509Certificate(pki.ring.rootPem).notAfter.getTime();
  metrics.watchCertificates(() => ({
    cas: [
      ...pki.ring.trusted.map((ca) => ({ id: ca.id, notAfter: ca.ca.certificate.notAfter.getTime() })),
      { id: "root", notAfter: rootNotAfter },
    ],
    serverNotAfter: pki.serverCertificate().notAfter,
  }));
}

/** Prunes at half the retention, between once a second and once an hour (unref'd). */
function startPruning({ config, registry, clock, logger }: PkiServiceOptions): NodeJS.Timeout {
  const retentionMs = config.ca.supersededRetention;
  const period = Math.min(3_600_000, Math.max(1_000, Math.floor(retentionMs / 2)));
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    pruneSupersededCertificates({ registry, clock }, retentionMs)
      .then((pruned) => pruned > 0 && logger.info({ service: "registry", pruned }, "pruned superseded certificates"))
      .catch((err: unknown) => logger.error({ service: "registry", err }, "pruning superseded certificates failed"))
      .finally(() => (running = false));
  }, period);
  timer.unref();
  return timer;
}
