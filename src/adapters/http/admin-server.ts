import fastify, { type FastifyInstance, type FastifyRequest } from "fastify";
import { RefusalAudit } from "../../app/refusal-audit.js";
import { KeyedTokenBucket, type RateSpec } from "../../domain/token-bucket.js";
import { listenerContext, type ListenerTls } from "./listener-tls.js";
import { authenticateOperator, type AdminGuard } from "./admin-auth.js";
import { installBrowserSafety } from "./admin-browser.js";
import { consoleRoutes } from "./admin-console.routes.js";
import type { AdminContext } from "./admin-context.js";
import { auditRoutes } from "./admin-audit.routes.js";
import { deviceRoutes } from "./admin-device.routes.js";
import { eventRoutes } from "./admin-events.routes.js";
import { installOpenApi } from "./admin-openapi.js";
import { operatorP12Routes } from "./admin-operator-p12.routes.js";
import { operatorRoutes } from "./admin-operator.routes.js";
import { overviewRoutes } from "./admin-overview.routes.js";
import { installApiSchemas } from "./admin-schemas.js";
import { pkiRoutes } from "./admin-pki.routes.js";
import { tokenRoutes } from "./admin-token.routes.js";
import { installErrorHandling, type EarlyRefusal, type ErrorPaths } from "./errors.js";
import { capConnections, httpsListenerOptions, type ListenerLimits } from "./listener-limits.js";

/** Refusal details go only to a request whose operator certificate was accepted. */
function isAuthenticated(request: FastifyRequest): boolean {
  return request.operator !== null;
}

export interface AdminServerOptions {
  readonly tls: ListenerTls;
  readonly limits: ListenerLimits;
  /** Refused requests per source address (token bucket); past it, 429 rate_limited. */
  readonly rateLimit: RateSpec;
  /** How long credential-less refusals of one address are counted before their summary is audited. */
  readonly refusalAuditInterval: number;
}

function guardFor(context: AdminContext, options: AdminServerOptions): AdminGuard {
  const refusals = new RefusalAudit(
    {
      registry: context.revocation.registry,
      clock: context.revocation.clock,
      onError: (err, summary) =>
        context.logger.error({ service: "admin", err, summary }, "refusal summary not audited"),
    },
    options.refusalAuditInterval,
  );
  return { refusalLimiter: new KeyedTokenBucket(options.rateLimit), refusals };
}

/** The admin listener: HTTPS on loopback by default, every request authenticated by an operator certificate. */
export async function createAdminServer(context: AdminContext, options: AdminServerOptions): Promise<FastifyInstance> {
  const guard = guardFor(context, options);
  // Refused by the router or the HTTP parser before any hook ran: audited like the auth failures.
  const onEarlyRefusal = ({ address, code, url, detail }: EarlyRefusal) =>
    guard.refusals
      .refused({ action: "admin.request_refused", address, code, url, detail })
      .catch((err: unknown) => context.logger.error({ service: "admin", err }, "refusal not audited"));
  const paths: ErrorPaths = {
    service: "admin",
    logger: context.logger,
    metrics: context.metrics,
    showDetail: isAuthenticated,
    onEarlyRefusal,
  };
  const app = fastify({
    ...httpsListenerOptions(options.limits, paths, {
      ...listenerContext(options.tls),
      // Verified by OpenSSL, enforced per request, so that a refusal is a JSON answer and an audit entry.
      requestCert: true,
      rejectUnauthorized: false,
    }),
    bodyLimit: 64 * 1024,
  });
  capConnections(app.server, options.limits, paths);
  app.decorateRequest("operator", null);
  installErrorHandling(app, paths);
  app.addHook("onRequest", async (request, reply) => authenticateOperator(context, guard, request, reply));
  // Counts still held are written while the registry is open (main closes the registry after this).
  app.addHook("onClose", async () => guard.refusals.close());
  // The console (admin-browser.ts): CSRF rules after authentication, security headers on every answer.
  installBrowserSafety(app, options.tls.cert);
  installApiSchemas(app);
  await installOpenApi(app);
  const plugins = [
    tokenRoutes,
    deviceRoutes,
    auditRoutes,
    operatorRoutes,
    operatorP12Routes,
    overviewRoutes,
    eventRoutes,
    pkiRoutes,
  ];
  for (const routes of [...plugins, consoleRoutes]) await app.register(routes, context);
  return app;
}
