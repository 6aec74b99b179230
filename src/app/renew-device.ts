import { certificateStanding, type Standing } from "../domain/certificate-standing.js";
import { applyCsrPolicy } from "../domain/csr-policy.js";
import { FleetgateError } from "../domain/errors.js";
import type { DeviceIdentity } from "../domain/identity.js";
import type { CertificateRecord, DeviceRecord } from "../ports.js";
import { appendAudit } from "./audit-log.js";
import {
  insertActiveCertificate,
  profileFor,
  signAndRecord,
  supersede,
  type EnrollmentDeps,
  type IssuedCertificate,
} from "./deps.js";

/** The client certificate a re-enrollment request presented (verified by TLS against the issuing CA). */
export interface PresentedCertificate {
  readonly identity: DeviceIdentity;
  readonly notBefore: number;
  readonly notAfter: number;
}

/** The refusal for each standing but "good", as the enrollment listener answers it. */
function assertRenewable(
  presented: PresentedCertificate,
  record: CertificateRecord | undefined,
  device: DeviceRecord | undefined,
  now: number,
): void {
  const { deviceId, serial } = presented.identity;
  const onRecord = record &&
    device && { deviceId: record.deviceId, status: record.status, deviceStatus: device.status };
  const standing: Standing = certificateStanding(
    { deviceId, notBefore: presented.notBefore, notAfter: presented.notAfter },
    onRecord,
    now,
  );
  // A resumed TLS session carries a certificate that may have expired since the first handshake,
  // where it would have been refused: the same 401 here.
  if (standing === "expired") throw new FleetgateError("client_certificate_required", `serial ${serial} is expired`);
  if (device?.status === "revoked") throw new FleetgateError("device_revoked", `device ${deviceId} is revoked`);
  if (standing !== "good")
    throw new FleetgateError("certificate_not_active", `serial ${serial} is ${record?.status ?? "unknown"}`);
}

/**
 * RFC 7030 §4.2.2 re-enrollment: the device authenticates with its current certificate and asks for a
 * new one with the same CN; a new key is allowed. The presented certificate is judged on every request
 * (validity dates and registry status), before signing and again inside the unit of work in which the
 * old certificate becomes superseded and the new one active.
 */
export async function renewDevice(
  deps: EnrollmentDeps,
  presented: PresentedCertificate,
  csrDer: Uint8Array<ArrayBuffer>,
): Promise<IssuedCertificate> {
  const { deviceId, serial } = presented.identity;
  const device = await deps.registry.getDevice(deviceId);
  assertRenewable(presented, await deps.registry.getCertificate(serial), device, deps.clock.now());
  const csr = await deps.decodeCsr(csrDer);
  applyCsrPolicy(csr.facts, { allowedKeys: deps.allowedKeys, mayEnroll: (cn) => cn === deviceId });
  const issued = await signAndRecord(
    deps,
    deviceId,
    profileFor(deps, device!.profile),
    csr.publicKeySpki,
    (certificate, now) =>
      deps.registry.transact(async (tx) => {
        const current = await tx.certificate(serial);
        assertRenewable(presented, current, await tx.device(deviceId), now);
        await supersede(tx, current!, now);
        await insertActiveCertificate(tx, certificate, now);
        const details = { serial: certificate.serial, previousSerial: serial, notAfter: certificate.notAfter };
        await appendAudit(
          tx,
          { actor: `device:${deviceId}`, action: "device.renewed", subject: deviceId, details },
          now,
        );
      }),
  );
  deps.bus?.publish({ type: "device.renewed", deviceId, serial: issued.serial, at: deps.clock.now() });
  return issued;
}
