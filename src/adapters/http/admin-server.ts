import fastify, { type FastifyInstance, type FastifyRequest } from "fastify";
import { listenerContext, type ListenerTls } from "./listener-tls.js";
import { authenticateOperator } from "./admin-auth.js";
import type { AdminContext } from "./admin-context.js";
import { auditRoutes } from "./admin-audit.routes.js";
import { deviceRoutes } from "./admin-device.routes.js";
import { operatorRoutes } from "./admin-operator.routes.js";
import { pkiRoutes } from "./admin-pki.routes.js";
import { tokenRoutes } from "./admin-token.routes.js";
import { installErrorHandling } from "./errors.js";

/** Refusal details go only to a request whose operator certificate was accepted. */
function isAuthenticated(request: FastifyRequest): boolean {
  return request.operator !== null;
}

/** The admin listener: HTTPS on loopback by default, every request authenticated by an operator certificate. */
export async function createAdminServer(context: AdminContext, tls: ListenerTls): Promise<FastifyInstance> {
  const app = fastify({
    logger: false,
    bodyLimit: 64 * 1024,
    https: {
      ...listenerContext(tls),
      // Verified by OpenSSL, enforced per request, so that a refusal is a JSON answer and an audit entry.
      requestCert: true,
      rejectUnauthorized: false,
    },
  });
  app.decorateRequest("operator", null);
  installErrorHandling(app, "admin", context.logger, context.metrics, isAuthenticated);
  app.addHook("onRequest", async (request) => authenticateOperator(context, request));
  for (const routes of [tokenRoutes, deviceRoutes, auditRoutes, operatorRoutes, pkiRoutes])
    await app.register(routes, context);
  return app;
}
