import { applyCsrPolicy } from "../domain/csr-policy.js";
import { FleetgateError } from "../domain/errors.js";
import type { DeviceIdentity } from "../domain/identity.js";
import { profileFor, signAndRecord, type EnrollmentDeps, type IssuedCertificate } from "./deps.js";

/**
 * RFC 7030 §4.2.2 re-enrollment: the device authenticates with its current certificate (already
 * verified by TLS) and asks for a new one with the same CN; a new key is allowed. The old
 * certificate becomes superseded in the same transaction that records the new one.
 */
export async function renewDevice(
  deps: EnrollmentDeps,
  current: DeviceIdentity,
  csrDer: Uint8Array<ArrayBuffer>,
): Promise<IssuedCertificate> {
  const device = await deps.registry.getDevice(current.deviceId);
  if (device?.status === "revoked") throw new FleetgateError("device_revoked", `device ${current.deviceId} is revoked`);
  const certificate = await deps.registry.getCertificate(current.serial);
  if (!device || certificate?.status !== "active" || certificate.deviceId !== current.deviceId) {
    throw new FleetgateError(
      "certificate_not_active",
      `serial ${current.serial} is ${certificate?.status ?? "unknown"}`,
    );
  }
  const csr = await deps.decodeCsr(csrDer);
  const deviceId = applyCsrPolicy(csr.facts, {
    allowedKeys: deps.allowedKeys,
    mayEnroll: (cn) => cn === current.deviceId,
  });
  return signAndRecord(deps, deviceId, profileFor(deps, device.profile), csr.publicKeySpki, (certificate, now) =>
    deps.registry.recordRenewal(current.serial, certificate, now, {
      actor: `device:${deviceId}`,
      action: "device.renewed",
      subject: deviceId,
      details: { serial: certificate.serial, previousSerial: current.serial, notAfter: certificate.notAfter },
    }),
  );
}
