import { X509Certificate } from "node:crypto";
import type { SimDevice } from "./device.js";
import type { RevocationRecord, RotationRecord } from "./device-record.js";
import type { Scheduler } from "./scheduler.js";
import { pickRandom } from "./scenario.js";
import type { FleetEvent } from "./types.js";

/** The operator's part of the revoke scenario. */
export interface RevokePlan {
  readonly count: number;
  /** Ms after the start of the run; default: after the ramp, at 40% of the run. */
  readonly atMs?: number;
  /** Revokes one device through the admin API (what `fleetgate device revoke` does). */
  readonly revokeDevice: (deviceId: string) => Promise<void>;
}

/**
 * At the planned time, picks `count` devices that are online right then (a revocation is about
 * cutting off a live session) and revokes them all at once.
 */
export async function revokeDuringRun(
  plan: RevokePlan,
  atMs: number,
  devices: readonly SimDevice[],
  scheduler: Scheduler,
  emit: (event: FleetEvent) => void,
): Promise<RevocationRecord[]> {
  await scheduler.sleep(atMs);
  if (scheduler.isStopped) return [];
  const victims = pickRandom(
    devices.filter((d) => d.status === "online"),
    plan.count,
  );
  return Promise.all(victims.map((device) => revokeOne(plan, device.id, emit)));
}

async function revokeOne(
  plan: RevokePlan,
  deviceId: string,
  emit: (event: FleetEvent) => void,
): Promise<RevocationRecord> {
  const requestedAt = Date.now();
  let error: string | null = null;
  try {
    await plan.revokeDevice(deviceId);
  } catch (failure) {
    error = (failure as Error).message;
  }
  const doneAt = Date.now();
  emit({ type: "revoked", deviceId, at: doneAt, ...(error === null ? {} : { error }) });
  return { deviceId, requestedAt, doneAt, error };
}

/** The operator's part of the rotate scenario: a new issuing CA mid-run (`fleetgate ca rotate`). */
export interface RotatePlan {
  /** Ms after the start of the run; default as for revocations (after the ramp, at 40% of the run). */
  readonly atMs?: number;
  /** Rotates and makes the running server reload; resolves with the new CA's id and certificate PEM. */
  readonly rotateCa: () => Promise<{ readonly id: string; readonly certificatePem: string }>;
}

/** At the planned time, the rollover: from then on every renewal must land on the new CA. */
export async function rotateDuringRun(
  plan: RotatePlan,
  atMs: number,
  scheduler: Scheduler,
): Promise<RotationRecord | null> {
  await scheduler.sleep(atMs);
  if (scheduler.isStopped) return null;
  const requestedAt = Date.now();
  try {
    const rotated = await plan.rotateCa();
    const subject = new X509Certificate(rotated.certificatePem).subject;
    return { requestedAt, doneAt: Date.now(), caId: rotated.id, subject, error: null };
  } catch (failure) {
    return { requestedAt, doneAt: Date.now(), caId: null, subject: null, error: (failure as Error).message };
  }
}
