import { deviceIdProblem } from "./device-id.js";

/**
 * The identity a verified client certificate carries. The CA writes the subject as
 * CN=<device id>, OU=<role>; nothing else in the certificate confers identity.
 */
export interface CertificateFacts {
  readonly serial: string;
  readonly commonNames: readonly string[];
  readonly roles: readonly string[];
}

export interface DeviceIdentity {
  readonly deviceId: string;
  readonly role: string;
  readonly serial: string;
}

export type IdentityResult = { ok: true; identity: DeviceIdentity } | { ok: false; reason: string };

export function identityFromCertificate(facts: CertificateFacts): IdentityResult {
  if (facts.commonNames.length !== 1)
    return { ok: false, reason: `expected one CN, found ${facts.commonNames.length}` };
  const deviceId = facts.commonNames[0]!;
  // Re-validated even though our CA only signs valid ids: a CN becomes a topic level.
  const problem = deviceIdProblem(deviceId);
  if (problem !== null) return { ok: false, reason: `CN ${problem}` };
  if (facts.roles.length !== 1) return { ok: false, reason: `expected one role, found ${facts.roles.length}` };
  return { ok: true, identity: { deviceId, role: facts.roles[0]!, serial: normalizeSerial(facts.serial) } };
}

/** Serials are compared as lower-case hex without leading zero bytes. */
export function normalizeSerial(serial: string): string {
  const hex = serial.toLowerCase().replace(/[^0-9a-f]/g, "");
  const trimmed = hex.replace(/^(00)+/, "");
  return trimmed.length === 0 ? "00" : trimmed;
}
