import { deriveAcl, type Acl, type AclConfig } from "../domain/acl.js";
import { identityFromCertificate, type CertificateFacts, type DeviceIdentity } from "../domain/identity.js";
import type { MqttRefusal } from "../domain/mqtt-refusals.js";
import { activeOnRecord, withinValidity } from "../domain/certificate-standing.js";
import type { CertificateState, Clock } from "../ports.js";

export interface PeerCertificate {
  readonly facts: CertificateFacts;
  readonly notBefore: number;
  readonly notAfter: number;
}

export interface ConnectAttempt {
  /** The TLS-verified peer certificate, or null when there is none. */
  readonly peer: PeerCertificate | null;
  readonly clientId: string;
  readonly clean: boolean;
  readonly keepalive: number;
}

export interface AdmissionDeps {
  /** The registry's facts about a serial (Registry.certificateState). */
  readonly certificateState: (serial: string) => Promise<CertificateState | undefined>;
  readonly acl: AclConfig;
  readonly keepalive: { readonly min: number; readonly max: number };
  readonly clock: Clock;
}

export type Admission =
  | { readonly ok: true; readonly identity: DeviceIdentity; readonly acl: Acl; readonly clientId: string }
  | { readonly ok: false; readonly refusal: MqttRefusal; readonly detail: string };

const refuse = (refusal: MqttRefusal, detail: string): Admission => ({ ok: false, refusal, detail });

/** [MQTT-3.1.3-6] lets the server assign an id to an empty one; we assign the CN, the only id allowed. */
function admittedClientId(attempt: ConnectAttempt, deviceId: string): string | Admission {
  if (attempt.clientId === "")
    return attempt.clean ? deviceId : refuse("client_id_empty_persistent", "empty id, CleanSession=0");
  if (attempt.clientId !== deviceId)
    return refuse("client_id_mismatch", `client id ${JSON.stringify(attempt.clientId)} ≠ CN ${deviceId}`);
  return attempt.clientId;
}

/**
 * Admission of one CONNECT, in order: a verified certificate, a valid identity in it, inside
 * its validity period (TLS session resumption does not re-check dates), known and active in
 * the registry on every connection, client id equal to the CN, keep-alive within bounds.
 */
export async function authorizeClient(deps: AdmissionDeps, attempt: ConnectAttempt): Promise<Admission> {
  if (attempt.peer === null) return refuse("client_certificate_missing", "no verified peer certificate");
  const parsed = identityFromCertificate(attempt.peer.facts);
  if (!parsed.ok) return refuse("certificate_identity_invalid", parsed.reason);
  const { identity } = parsed;
  // Dates first: an expired certificate costs no registry read.
  if (!withinValidity(attempt.peer, deps.clock.now()))
    return refuse("certificate_expired", `serial ${identity.serial}`);
  if (!activeOnRecord(await deps.certificateState(identity.serial), identity.deviceId)) {
    return refuse("certificate_not_active", `serial ${identity.serial} of ${identity.deviceId}`);
  }
  const clientId = admittedClientId(attempt, identity.deviceId);
  if (typeof clientId !== "string") return clientId;
  const { min, max } = deps.keepalive;
  if (attempt.keepalive > max || (min > 0 && attempt.keepalive < min)) {
    return refuse("keepalive_out_of_bounds", `keepalive ${attempt.keepalive}s outside ${min}-${max}`);
  }
  if (!Object.hasOwn(deps.acl, identity.role)) return refuse("role_unknown", `role ${identity.role}`);
  return { ok: true, identity, acl: deriveAcl(deps.acl, identity.role, identity.deviceId), clientId };
}

/**
 * Asked again right after a session is registered: a revocation that committed between the first read
 * and the registration is seen here (one that commits later finds the session and kicks it).
 */
export async function stillAdmitted(deps: AdmissionDeps, identity: DeviceIdentity): Promise<boolean> {
  return activeOnRecord(await deps.certificateState(identity.serial), identity.deviceId);
}
