import { assertTokenUsable, hashToken, looksLikeToken, tokenCovers } from "../domain/bootstrap-token.js";
import { applyCsrPolicy } from "../domain/csr-policy.js";
import { assertDeviceMayEnroll } from "../domain/enrollment.js";
import { FleetgateError } from "../domain/errors.js";
import type { CertificateProfile } from "../domain/profile.js";
import { appendAudit } from "./audit-log.js";
import {
  insertActiveCertificate,
  profileFor,
  signAndRecord,
  supersede,
  type EnrollmentDeps,
  type IssuedCertificate,
  type NewCertificate,
} from "./deps.js";

export interface EnrollRequest {
  readonly token: string | undefined;
  readonly csrDer: Uint8Array<ArrayBuffer>;
  /** EST carries the device id as the Basic username; when given it must be the CSR's CN. */
  readonly claimedDeviceId?: string;
}

/**
 * First boot: a bootstrap token plus a CSR buys a certificate. The token is judged before the CSR is
 * even decoded, and judged again inside the unit of work that spends it and records the certificate,
 * against the locked token row: racing requests with a single-use token yield exactly one certificate.
 */
export async function enrollDevice(deps: EnrollmentDeps, request: EnrollRequest): Promise<IssuedCertificate> {
  if (!request.token) throw new FleetgateError("token_missing");
  if (!looksLikeToken(request.token)) throw new FleetgateError("token_invalid", "not a fleetgate token");
  const tokenHash = hashToken(request.token);
  const token = await deps.registry.findTokenByHash(tokenHash);
  assertTokenUsable(token, deps.clock.now());

  const csr = await deps.decodeCsr(request.csrDer);
  const deviceId = applyCsrPolicy(csr.facts, {
    allowedKeys: deps.allowedKeys,
    mayEnroll: (cn) =>
      tokenCovers(token, cn) && (request.claimedDeviceId === undefined || request.claimedDeviceId === cn),
  });
  assertDeviceMayEnroll(token, await deps.registry.getDevice(deviceId));

  const profile = profileFor(deps, token.profile);
  const issued = await signAndRecord(deps, deviceId, profile, csr.publicKeySpki, (certificate, now) =>
    recordEnrollment(deps, tokenHash, profile, certificate, now),
  );
  deps.bus?.publish({ type: "device.enrolled", deviceId, serial: issued.serial, at: deps.clock.now() });
  return issued;
}

/** One unit of work: spend one use of the token, create or re-key the device, record the certificate. */
function recordEnrollment(
  deps: EnrollmentDeps,
  tokenHash: string,
  profile: CertificateProfile,
  certificate: NewCertificate,
  now: number,
): Promise<void> {
  const { deviceId } = certificate;
  return deps.registry.transact(async (tx) => {
    const token = await tx.tokenByHash(tokenHash);
    assertTokenUsable(token, now);
    const device = await tx.device(deviceId);
    assertDeviceMayEnroll(token, device);
    await tx.updateToken(token.id, { usesLeft: token.usesLeft - 1 });
    const facts = { role: profile.role, profile: profile.name };
    if (device === undefined) {
      const fresh = { id: deviceId, ...facts, status: "active", createdAt: now } as const;
      await tx.insertDevice({ ...fresh, revokedAt: null, revocationReason: null, lastSeenAt: null });
    } else {
      // A device token re-enrolls a device that lost its key: its old certificates stop being active.
      await tx.updateDevice(deviceId, facts);
      for (const old of await tx.certificatesOf(deviceId)) if (old.status === "active") await supersede(tx, old, now);
    }
    await insertActiveCertificate(tx, certificate, now);
    const details = { serial: certificate.serial, profile: profile.name, notAfter: certificate.notAfter };
    await appendAudit(tx, { actor: `token:${token.id}`, action: "device.enrolled", subject: deviceId, details }, now);
  });
}
