import { FleetgateError } from "../domain/errors.js";
import { assertNotLastOperator } from "../domain/operators.js";
import type { Clock, Registry } from "../ports.js";
import { appendAudit } from "./audit-log.js";

/** Revokes every active certificate of the named operator; returns how many. One unit of work. */
export async function revokeOperator(
  deps: { readonly registry: Registry; readonly clock: Clock },
  name: string,
  actor: string,
): Promise<number> {
  const at = deps.clock.now();
  return deps.registry.transact(async (tx) => {
    const active = await tx.activeOperators();
    const theirs = active.filter((operator) => operator.name === name);
    if (theirs.length === 0) throw new FleetgateError("not_found", `no active operator ${name}`);
    assertNotLastOperator(
      active.map((operator) => operator.name),
      name,
    );
    for (const operator of theirs) await tx.updateOperator(operator.serial, { status: "revoked", revokedAt: at });
    await appendAudit(tx, { actor, action: "operator.revoked", subject: name, details: {} }, at);
    return theirs.length;
  });
}
