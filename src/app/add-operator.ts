import { applyCsrPolicy } from "../domain/csr-policy.js";
import type { DecodedCsr } from "../domain/csr-policy.js";
import { OPERATOR_ROLE } from "../domain/operators.js";
import type { OperatorRecord } from "../ports.js";
import { appendAudit } from "./audit-log.js";
import type { EnrollmentDeps } from "./deps.js";

export const OPERATOR_LIFETIME_MS = 365 * 86_400_000;

/**
 * Operator credentials are client certificates from the issuing CA with role `operator`,
 * recorded in their own table: the admin listener admits a serial only if it is an active
 * operator, so a device certificate (same CA) is never an operator certificate.
 */
export async function addOperator(
  deps: EnrollmentDeps,
  name: string,
  csr: DecodedCsr,
  actor: string,
): Promise<OperatorRecord> {
  applyCsrPolicy(csr.facts, { allowedKeys: deps.allowedKeys, mayEnroll: (cn) => cn === name });
  const now = deps.clock.now();
  const signed = await deps.signer.sign({
    deviceId: name,
    role: OPERATOR_ROLE,
    lifetimeMs: OPERATOR_LIFETIME_MS,
    publicKeySpki: csr.publicKeySpki,
    now,
  });
  const record: OperatorRecord = {
    serial: signed.serial,
    name,
    pem: signed.pem,
    status: "active",
    createdAt: now,
    notAfter: signed.notAfter,
    revokedAt: null,
    issuer: signed.issuer,
  };
  await deps.registry.transact(async (tx) => {
    await tx.insertOperator(record);
    await appendAudit(tx, { actor, action: "operator.added", subject: name, details: { serial: signed.serial } }, now);
  });
  return record;
}
