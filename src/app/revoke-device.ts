import { FleetgateError } from "../domain/errors.js";
import { DEVICE_REVOCATION_REASONS, isDeviceRevocationReason } from "../domain/revocation-reason.js";
import type { Clock, DeviceRecord, EventBus, Registry } from "../ports.js";
import { appendAudit } from "./audit-log.js";

export interface RevocationDeps {
  readonly registry: Registry;
  readonly bus: EventBus;
  readonly clock: Clock;
}

export interface RevokeResult {
  readonly deviceId: string;
  /** The reason on record: the one given now, or the original one if it was already revoked. */
  readonly reason: string;
  readonly serials: readonly string[];
  readonly alreadyRevoked: boolean;
  /** Live sessions the kick actually closed, in total and per node. */
  readonly sessionsClosed: number;
  readonly sessionsClosedByNode: Readonly<Record<string, number>>;
  /** Nodes that did not answer in time: each kicks on its own once it reads the revocation back. */
  readonly nodesCatchingUp: readonly string[];
}

/**
 * Durable first, then side effects: one unit of work marks the device and every certificate of it not
 * yet revoked as revoked (from then on admission, enrollment and OCSP refuse it) and audits it; only
 * then is the revocation published, which kicks live sessions on every node (their count comes back)
 * and re-signs the CRL.
 */
export async function revokeDevice(
  deps: RevocationDeps,
  deviceId: string,
  reason: string,
  actor: string,
): Promise<RevokeResult> {
  if (!isDeviceRevocationReason(reason)) {
    const known = DEVICE_REVOCATION_REASONS.join(", ");
    throw new FleetgateError(
      "malformed_request",
      `unknown revocation reason ${JSON.stringify(reason)}; one of ${known}`,
    );
  }
  const at = deps.clock.now();
  const { device, serials, auditSeq } = await deps.registry.transact(async (tx) => {
    const device = await tx.device(deviceId);
    if (!device) throw new FleetgateError("not_found", `no device ${deviceId}`);
    if (device.status === "revoked") return { device, serials: [] as string[], auditSeq: null };
    const serials = (await tx.certificatesOf(deviceId)).filter((c) => c.status !== "revoked").map((c) => c.serial);
    await tx.updateDevice(deviceId, { status: "revoked", revokedAt: at, revocationReason: reason });
    for (const serial of serials)
      await tx.updateCertificate(serial, { status: "revoked", revokedAt: at, revocationReason: reason });
    const details = { reason, serials };
    const entry = await appendAudit(tx, { actor, action: "device.revoked", subject: deviceId, details }, at);
    return { device, serials, auditSeq: entry.seq };
  });
  // Kick even when it was already revoked: a session that slipped in must still go.
  const outcome = await deps.bus.publishRevocation({ deviceId, reason, serials, at, auditSeq });
  const alreadyRevoked = device.status === "revoked";
  if (!alreadyRevoked) deps.bus.publish({ type: "device.revoked", deviceId, reason, at });
  return {
    deviceId,
    reason: reasonOnRecord(device, reason),
    serials,
    alreadyRevoked,
    sessionsClosed: outcome.sessionsClosed,
    sessionsClosedByNode: outcome.byNode,
    nodesCatchingUp: outcome.unanswered,
  };
}

function reasonOnRecord(device: DeviceRecord, given: string): string {
  return device.status === "revoked" ? (device.revocationReason ?? given) : given;
}

/** A found or replaced device may enroll again (with a new token); old certificates stay revoked. */
export async function resetDevice(deps: RevocationDeps, deviceId: string, actor: string): Promise<boolean> {
  const at = deps.clock.now();
  const reset = await deps.registry.transact(async (tx) => {
    const device = await tx.device(deviceId);
    if (!device) throw new FleetgateError("not_found", `no device ${deviceId}`);
    if (device.status !== "revoked") return false;
    await tx.updateDevice(deviceId, { status: "active", revokedAt: null, revocationReason: null });
    await appendAudit(tx, { actor, action: "device.reset", subject: deviceId, details: {} }, at);
    return true;
  });
  if (reset) deps.bus.publish({ type: "device.reset", deviceId, at });
  return reset;
}
