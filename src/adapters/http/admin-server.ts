import fastify, { type FastifyInstance, type FastifyRequest } from "fastify";
import type { ListenerTls } from "./listener-tls.js";
import { authenticateOperator } from "./admin-auth.js";
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
      ...tls,
      // Verified by OpenSSL, enforced per request, so that a refusal is a JSON answer and an audit entry.
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: "TLSv1.2",
    },
  });
  app.decorateRequest("operator", null);
  installErrorHandling(app, "admin", context.logger, context.metrics, isAuthenticated);
  app.addHook("onRequest", async (request) => authenticateOperator(context, request));
  // The console (admin-browser.ts): CSRF rules after authentication, security headers on every answer.
  installBrowserSafety(app, tls.cert);
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
  ];
  for (const routes of [...plugins, consoleRoutes]) await app.register(routes, context);
  return app;
}
