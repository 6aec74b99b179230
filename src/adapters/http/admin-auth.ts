import type { FastifyReply, FastifyRequest } from "fastify";
import type { TLSSocket } from "node:tls";
import type { RefusalAudit } from "../../app/refusal-audit.js";
import { FleetgateError } from "../../domain/errors.js";
import { OPERATOR_ROLE } from "../../domain/operators.js";
import type { KeyedTokenBucket } from "../../domain/token-bucket.js";
import { certificateFacts } from "../shared/certificate-facts.js";
import type { AdminContext } from "./admin-context.js";
import { boundedUrl } from "./errors.js";

/** What guards the admin listener against requests without a valid operator credential. */
export interface AdminGuard {
  /** Per source address, spent only by refused requests: an operator's own requests never are. */
  readonly refusalLimiter: KeyedTokenBucket;
  readonly refusals: RefusalAudit;
}

type AuthRefusal = {
  readonly code: "operator_certificate_required" | "operator_not_authorized";
  readonly detail: string;
};

/**
 * Who is asking: a TLS-verified client certificate whose role is `operator` and whose serial is an
 * active operator in the registry: its name, else why not.
 */
async function judge(context: AdminContext, request: FastifyRequest): Promise<AuthRefusal | { operator: string }> {
  const socket = request.raw.socket as TLSSocket;
  const peer = socket.getPeerX509Certificate?.();
  if (!peer) return { code: "operator_certificate_required", detail: "no client certificate" };
  if (!socket.authorized)
    return { code: "operator_certificate_required", detail: `not verified: ${String(socket.authorizationError)}` };
  const facts = certificateFacts(new Uint8Array(peer.raw));
  const name = facts.commonNames[0] ?? "";
  if (!facts.roles.includes(OPERATOR_ROLE))
    return { code: "operator_not_authorized", detail: `${name} has role ${facts.roles.join(",")}` };
  const operator = await context.revocation.registry.getOperator(facts.serial);
  if (operator?.status !== "active")
    return { code: "operator_not_authorized", detail: `${name} serial ${facts.serial} not active` };
  return { operator: name };
}

/**
 * Authenticates the operator, or refuses. Every refusal is audited (`admin.auth_failed`, actor
 * `address:<ip>`; the first of an address and interval before it is answered, the rest in one summary
 * entry). Once an address has spent its refusal allowance, it is answered `429 rate_limited` with
 * Retry-After instead — audited the same way, so the counts still add up.
 */
export async function authenticateOperator(
  context: AdminContext,
  guard: AdminGuard,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  const outcome = await judge(context, request);
  if ("operator" in outcome) {
    request.operator = outcome.operator;
    return;
  }
  const now = context.revocation.clock.now();
  const limited = !guard.refusalLimiter.take(request.ip, now);
  const code = limited ? "rate_limited" : outcome.code;
  if (limited) void reply.header("retry-after", String(guard.refusalLimiter.retryAfterSeconds(request.ip, now)));
  const url = boundedUrl(request.url);
  await guard.refusals.refused({ action: "admin.auth_failed", address: request.ip, code, url, detail: outcome.detail });
  throw new FleetgateError(code, outcome.detail);
}
