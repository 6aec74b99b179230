import type { RetryBudget } from "./backoff.js";
import type { DeviceCredential } from "./credential-store.js";
import type { DeviceEnvironment } from "./device-env.js";
import type { DeviceRecord } from "./device-record.js";
import { EnrollError } from "./enroll-client.js";
import { tokenFor } from "./types.js";

export type BootOutcome =
  { readonly credential: DeviceCredential } | { readonly gaveUp: string } | { readonly stopped: true };

/**
 * A device's credentials at power-on: the stored ones when it has booted before (a reboot), else
 * a first boot: new key, CSR, enrollment with the bootstrap token, retried with backoff within
 * the budget (a refused token is not asked about forever).
 */
export async function obtainCredential(
  env: DeviceEnvironment,
  record: DeviceRecord,
  budget: RetryBudget,
): Promise<BootOutcome> {
  const stored = await env.store.load(record.id);
  if (stored) {
    env.emit({ type: "rebooted", deviceId: record.id, at: Date.now() });
    return { credential: stored };
  }
  record.firstBoot = true;
  while (!env.signal.aborted) {
    try {
      const credential = await enrollOnce(env, record);
      record.enrolledAt = Date.now();
      env.emit({ type: "enrolled", deviceId: record.id, at: record.enrolledAt, method: env.method });
      budget.succeeded();
      return { credential };
    } catch (error) {
      const failure = error instanceof EnrollError ? error : new EnrollError((error as Error).message, "transient");
      if (failure.kind === "refused") noteRefusal(env, record, failure.message);
      const decision = budget.failed(failure.kind, failure.message, failure.retryAfterMs);
      if (!decision.retry) return { gaveUp: `enrollment: ${decision.reason}` };
      await env.scheduler.sleep(decision.delayMs);
    }
  }
  return { stopped: true };
}

async function enrollOnce(env: DeviceEnvironment, record: DeviceRecord): Promise<DeviceCredential> {
  const credential = await env.enrollments.run(async () => {
    const token = await tokenFor(env.token, record.id);
    const started = performance.now();
    const issued = await env.enroll.enroll(record.id, token, env.method);
    record.enrollMs = performance.now() - started;
    return issued;
  });
  await env.store.save(credential);
  return credential;
}

function noteRefusal(env: DeviceEnvironment, record: DeviceRecord, reason: string): void {
  const at = Date.now();
  record.refusals.push({ at, stage: "enroll", reason });
  env.emit({ type: "refused", deviceId: record.id, at, stage: "enroll", reason });
}
