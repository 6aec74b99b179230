import type { FastifyRequest } from "fastify";
import type { TLSSocket } from "node:tls";
import { recordAudit } from "../../app/audit-log.js";
import { FleetgateError } from "../../domain/errors.js";
import { OPERATOR_ROLE } from "../../domain/operators.js";
import { certificateFacts } from "../shared/certificate-facts.js";
import type { AdminContext } from "./admin-context.js";

/**
 * Who is asking: a TLS-verified client certificate whose role is `operator` and whose serial is an
 * active operator in the registry. Every failure is audited before it is refused.
 */
export async function authenticateOperator(context: AdminContext, request: FastifyRequest): Promise<void> {
  const socket = request.raw.socket as TLSSocket;
  const peer = socket.getPeerX509Certificate?.();
  const refuse = async (code: "operator_certificate_required" | "operator_not_authorized", detail: string) => {
    const { registry, clock } = context.revocation;
    const input = {
      actor: `address:${request.ip}`,
      action: "admin.auth_failed",
      subject: null,
      details: { detail, url: request.url },
    };
    await recordAudit(registry, input, clock.now());
    throw new FleetgateError(code, detail);
  };
  if (!peer) return refuse("operator_certificate_required", "no client certificate");
  if (!socket.authorized)
    return refuse("operator_certificate_required", `not verified: ${String(socket.authorizationError)}`);
  const facts = certificateFacts(new Uint8Array(peer.raw));
  const name = facts.commonNames[0] ?? "";
  if (!facts.roles.includes(OPERATOR_ROLE))
    return refuse("operator_not_authorized", `${name} has role ${facts.roles.join(",")}`);
  const operator = await context.revocation.registry.getOperator(facts.serial);
  if (operator?.status !== "active")
    return refuse("operator_not_authorized", `${name} serial ${facts.serial} not active`);
  request.operator = name;
}
