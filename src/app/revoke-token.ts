import { FleetgateError } from "../domain/errors.js";
import type { Clock, Registry } from "../ports.js";
import { appendAudit } from "./audit-log.js";

/** A revoked token can never enroll again (the enrollment rules read revokedAt). */
export async function revokeToken(
  deps: { readonly registry: Registry; readonly clock: Clock },
  id: string,
  actor: string,
): Promise<void> {
  const at = deps.clock.now();
  await deps.registry.transact(async (tx) => {
    const token = await tx.tokenById(id);
    if (token === undefined || token.revokedAt !== null) throw new FleetgateError("not_found", `no active token ${id}`);
    await tx.updateToken(id, { revokedAt: at });
    await appendAudit(tx, { actor, action: "token.revoked", subject: id, details: {} }, at);
  });
}
