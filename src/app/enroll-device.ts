import { assertTokenUsable, hashToken, looksLikeToken, tokenCovers } from "../domain/bootstrap-token.js";
import { applyCsrPolicy } from "../domain/csr-policy.js";
import { FleetgateError } from "../domain/errors.js";
import { profileFor, signAndRecord, type EnrollmentDeps, type IssuedCertificate } from "./deps.js";

export interface EnrollRequest {
  readonly token: string | undefined;
  readonly csrDer: Uint8Array<ArrayBuffer>;
  /** EST carries the device id as the Basic username; when given it must be the CSR's CN. */
  readonly claimedDeviceId?: string;
}

/**
 * First boot: a bootstrap token plus a CSR buys a certificate. The token is checked before the
 * CSR is even decoded; it is spent in the same transaction that records the certificate, so
 * racing requests with a single-use token yield exactly one certificate.
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
  const existing = await deps.registry.getDevice(deviceId);
  if (existing?.status === "revoked") throw new FleetgateError("device_revoked", `device ${deviceId} is revoked`);
  if (existing && token.deviceId === null)
    throw new FleetgateError("device_exists", `group token ${token.id} for existing ${deviceId}`);

  const profile = profileFor(deps, token.profile);
  return signAndRecord(deps, deviceId, profile, csr.publicKeySpki, (certificate, now) =>
    deps.registry.recordEnrollment(tokenHash, certificate, now, {
      actor: `token:${token.id}`,
      action: "device.enrolled",
      subject: deviceId,
      details: { serial: certificate.serial, profile: profile.name, notAfter: certificate.notAfter },
    }),
  );
}
