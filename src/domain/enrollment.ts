import type { TokenRecord } from "./bootstrap-token.js";
import { FleetgateError } from "./errors.js";

/** The device facts the enrollment rules read (a registry DeviceRecord fits). */
export interface EnrollingDevice {
  readonly id: string;
  readonly status: "active" | "revoked";
}

/**
 * Who may (re-)enroll an existing device id. Checked before signing, to refuse early, and again inside
 * the unit of work that records the certificate, against the rows locked there: one rule, two reads.
 *
 * - A revoked device never enrolls until an operator resets it (its credential was lost or stolen).
 * - A group token never mints a second identity for a device that already exists: a factory batch
 *   token that leaked must not let its holder take over enrolled devices. Only a token issued for
 *   that exact device id replaces its credential.
 */
export function assertDeviceMayEnroll(
  token: Pick<TokenRecord, "id" | "deviceId">,
  device: EnrollingDevice | undefined,
): void {
  if (device === undefined) return;
  if (device.status === "revoked") throw new FleetgateError("device_revoked", `device ${device.id} is revoked`);
  if (token.deviceId !== device.id)
    throw new FleetgateError("device_exists", `group token ${token.id} for existing ${device.id}`);
}
