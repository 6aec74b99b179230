import { readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import type { Clock, EventBus, Registry } from "../ports.js";
import { CrlPublisher } from "../adapters/ca/crl.js";
import type { IssuingCa } from "../adapters/ca/issuing-ca.js";
import { OcspResponder } from "../adapters/ca/ocsp.js";
import { createPkiServer, type PkiServerOptions } from "../adapters/http/pki-server.js";
import type { PkiPaths } from "../adapters/shared/key-files.js";

/** In cluster mode every node re-reads the stored CRL this often (another node may have signed it). */
const ADOPT_EVERY_MS = 2000;

/**
 * The CRL publisher, the OCSP responder and the (not yet listening) PKI server. The node that commits a
 * revocation re-signs the CRL after its kicks; the others adopt the stored one (same bytes, same number).
 */
export async function startPki(
  registry: Registry,
  ca: IssuingCa,
  paths: PkiPaths,
  bus: EventBus,
  options: {
    readonly clustered: boolean;
    readonly limits: PkiServerOptions["limits"];
    readonly clock: Clock;
    readonly logger: Logger;
    readonly metrics: Metrics;
  },
): Promise<{ app: FastifyInstance; crl: CrlPublisher; close(): Promise<void> }> {
  const { logger, clock } = options;
  const crl = new CrlPublisher(registry, ca, {
    clock,
    onRefresh: (info) => logger.info({ service: "pki", ...info }, "CRL signed"),
    onError: (err: unknown) => logger.error({ service: "pki", err }, "CRL re-sign failed; previous CRL still served"),
  });
  const ocsp = new OcspResponder(registry, ca, {
    clock,
    onError: (err: unknown) => logger.error({ service: "pki", err }, "OCSP internal error"),
  });
  await crl.refresh("startup");
  crl.start();
  // Subscribed after the kicker: sessions close first, then the CRL is re-signed.
  bus.onRevocation(
    async (_event, origin) => void (origin === "local" ? await crl.refresh("revocation") : await crl.adopt()),
  );
  const adopting = options.clustered ? setInterval(() => void crl.adopt().catch(() => false), ADOPT_EVERY_MS) : null;
  adopting?.unref();
  // The files as written by init, byte for byte.
  const pems = { rootPem: readFileSync(paths.rootCert, "utf8"), issuingPem: readFileSync(paths.issuingCert, "utf8") };
  const app = createPkiServer({ crl, ocsp, ca: pems, limits: options.limits, logger, metrics: options.metrics });
  return {
    app,
    crl,
    async close() {
      if (adopting !== null) clearInterval(adopting);
      crl.stop();
      await app.close();
    },
  };
}
