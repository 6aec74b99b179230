import fastify, { type FastifyInstance } from "fastify";
import type { EnrollmentDeps } from "../../app/deps.js";
import { FleetgateError } from "../../domain/errors.js";
import { KeyedTokenBucket, type RateSpec } from "../../domain/token-bucket.js";
import type { Logger } from "../../logger.js";
import type { Metrics } from "../../metrics.js";
import type { EnrollContext } from "./enroll-context.js";
import { enrollRoutes } from "./enroll.routes.js";
import { installErrorHandling, type ErrorPaths } from "./errors.js";
import { estRoutes } from "./est.routes.js";
import { capConnections, httpsListenerOptions, type ListenerLimits } from "./listener-limits.js";
import { listenerContext, rotateTicketKeys, type ListenerTls } from "./listener-tls.js";
import type { SessionTickets } from "../shared/ticket-keys.js";

export interface EnrollServerOptions {
  readonly deps: EnrollmentDeps;
  readonly tls: ListenerTls;
  /** Shared, rotated session-ticket keys (devices renewing resume their session); without, Node's own. */
  readonly sessionTickets?: SessionTickets;
  readonly bodyLimit: number;
  readonly rateLimit: { readonly perAddress: RateSpec; readonly perToken: RateSpec };
  readonly limits: ListenerLimits;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/**
 * The enrollment listener: HTTPS, TLS >= 1.2. It asks for a client certificate but does not
 * require one: first boots have none, re-enrollment (RFC 7030 §3.3.2) must present one.
 */
export async function createEnrollServer(options: EnrollServerOptions): Promise<FastifyInstance> {
  const paths: ErrorPaths = { service: "enroll", logger: options.logger, metrics: options.metrics };
  const app = fastify({
    ...httpsListenerOptions(options.limits, paths, {
      ...listenerContext(options.tls, options.sessionTickets),
      // The chain must reach a self-signed root for OpenSSL; renewDevice then requires a registry-known serial.
      requestCert: true,
      rejectUnauthorized: false,
    }),
    bodyLimit: options.bodyLimit,
  });
  capConnections(app.server, options.limits, paths);
  if (options.sessionTickets) {
    const stop = rotateTicketKeys(app, options.sessionTickets);
    app.addHook("onClose", async () => stop());
  }
  installErrorHandling(app, paths);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "string" }, app.getDefaultJsonParser("error", "error"));
  app.addContentTypeParser("application/pkcs10", { parseAs: "string" }, (_request, body, done) => done(null, body));

  const addressLimiter = new KeyedTokenBucket(options.rateLimit.perAddress);
  app.addHook("onRequest", async (request, reply) => {
    if (addressLimiter.take(request.ip, Date.now())) return;
    void reply.header("retry-after", String(addressLimiter.retryAfterSeconds(request.ip, Date.now())));
    throw new FleetgateError("rate_limited", `address ${request.ip}`);
  });
  const { tls: _tls, limits: _limits, sessionTickets: _tickets, ...shared } = options;
  const context: EnrollContext = { ...shared, tokenLimiter: new KeyedTokenBucket(options.rateLimit.perToken) };
  await app.register(enrollRoutes, context);
  await app.register(estRoutes, context);
  return app;
}
