import { FleetgateError } from "../domain/errors.js";
import { DEVICE_REVOCATION_REASONS, isDeviceRevocationReason } from "../domain/revocation-reason.js";
import type { Clock, EventBus, Registry } from "../ports.js";

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
}

/**
 * Durable first, then side effects: the registry commits the device and its certificates as
 * revoked (from then on admission, enrollment and OCSP refuse it), and only then is the event
 * published that kicks live sessions and re-signs the CRL.
 */
export async function revokeDevice(
  deps: RevocationDeps,
  deviceId: string,
  reason: string,
  actor: string,
): Promise<RevokeResult> {
  if (!isDeviceRevocationReason(reason))
    throw new FleetgateError(
      "malformed_request",
      `unknown revocation reason ${JSON.stringify(reason)}; one of ${DEVICE_REVOCATION_REASONS.join(", ")}`,
    );
  const device = await deps.registry.getDevice(deviceId);
  if (!device) throw new FleetgateError("not_found", `no device ${deviceId}`);
  const at = deps.clock.now();
  const serials = await deps.registry.revokeDevice(deviceId, reason, at, {
    actor,
    action: "device.revoked",
    subject: deviceId,
    details: {},
  });
  // Kick even when it was already revoked: a session that slipped in must still go.
  await deps.bus.publishRevocation({ deviceId, reason, serials, at });
  const alreadyRevoked = device.status === "revoked";
  return { deviceId, reason: alreadyRevoked ? (device.revocationReason ?? reason) : reason, serials, alreadyRevoked };
}

/** A found or replaced device may enroll again (with a new token); old certificates stay revoked. */
export async function resetDevice(deps: RevocationDeps, deviceId: string, actor: string): Promise<boolean> {
  const device = await deps.registry.getDevice(deviceId);
  if (!device) throw new FleetgateError("not_found", `no device ${deviceId}`);
  return deps.registry.resetDevice(deviceId, deps.clock.now(), {
    actor,
    action: "device.reset",
    subject: deviceId,
    details: {},
  });
}
