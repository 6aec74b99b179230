import { readFileSync } from "node:fs";
import type { TLSSocket } from "node:tls";
import fastify, { type FastifyInstance, type FastifyRequest } from "fastify";
import type { EnrollmentDeps } from "../../app/deps.js";
import { OPERATOR_ROLE } from "../../app/add-operator.js";
import type { RevocationDeps } from "../../app/revoke-device.js";
import type { AclConfig } from "../../domain/acl.js";
import { FleetgateError } from "../../domain/errors.js";
import type { Logger } from "../../logger.js";
import type { Metrics } from "../../metrics.js";
import { readPrivateKeyPem, type PkiPaths } from "../ca/key-store.js";
import { certificateFacts } from "../ca/certificate-facts.js";
import type { SessionRegistry } from "../mqtt/session-kicker.js";
import { registerAdminRoutes } from "./admin.routes.js";
import { installErrorHandling } from "./errors.js";

export interface AdminContext {
  readonly enrollment: EnrollmentDeps;
  readonly revocation: RevocationDeps;
  readonly sessions: SessionRegistry;
  readonly acl: AclConfig;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

const operators = new WeakMap<FastifyRequest, string>();

/** The operator name the request authenticated as (set by the onRequest hook). */
export function operatorOf(request: FastifyRequest): string {
  return operators.get(request) ?? "unknown";
}

/** Refusal details go only to a request whose operator certificate was accepted. */
function isAuthenticated(request: FastifyRequest): boolean {
  return operators.has(request);
}

/**
 * Who is asking: a TLS-verified client certificate whose role is `operator` and whose serial is
 * an active operator in the registry. Every failure is audited before it is refused.
 */
async function authenticateOperator(context: AdminContext, request: FastifyRequest): Promise<void> {
  const socket = request.raw.socket as TLSSocket;
  const peer = socket.getPeerX509Certificate?.();
  const refuse = async (code: "operator_certificate_required" | "operator_not_authorized", detail: string) => {
    const at = context.revocation.clock.now();
    await context.revocation.registry.appendAudit(
      {
        actor: `address:${request.ip}`,
        action: "admin.auth_failed",
        subject: null,
        details: { detail, url: request.url },
      },
      at,
    );
    throw new FleetgateError(code, detail);
  };
  if (!peer) return refuse("operator_certificate_required", "no client certificate");
  if (!socket.authorized) return refuse("operator_certificate_required", `not verified: ${socket.authorizationError}`);
  const facts = certificateFacts(new Uint8Array(peer.raw));
  const name = facts.commonNames[0] ?? "";
  if (!facts.roles.includes(OPERATOR_ROLE))
    return refuse("operator_not_authorized", `${name} has role ${facts.roles.join(",")}`);
  if (!(await context.revocation.registry.isOperatorActive(facts.serial)))
    return refuse("operator_not_authorized", `${name} serial ${facts.serial} not active`);
  operators.set(request, name);
}

/** The admin listener: HTTPS on loopback by default, every request authenticated by an operator certificate. */
export function createAdminServer(context: AdminContext, pki: PkiPaths): FastifyInstance {
  const app = fastify({
    logger: false,
    bodyLimit: 64 * 1024,
    https: {
      key: readPrivateKeyPem(pki.serverKey),
      cert: readFileSync(pki.serverCert),
      ca: [context.enrollment.signer.issuingCaPem, context.enrollment.signer.rootCaPem],
      // Verified by OpenSSL, enforced per request, so that a refusal is a JSON answer and an audit entry.
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: "TLSv1.2",
    },
  });
  installErrorHandling(app, "admin", context.logger, context.metrics, isAuthenticated);
  app.addHook("onRequest", async (request) => authenticateOperator(context, request));
  registerAdminRoutes(app, context);
  return app;
}
