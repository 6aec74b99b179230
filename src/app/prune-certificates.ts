import { prunable } from "../domain/certificate-standing.js";
import type { Clock, Registry } from "../ports.js";

export interface PruneDeps {
  readonly registry: Pick<Registry, "transact">;
  readonly clock: Clock;
}

/** One unit of work deletes at most this many: a long-held write lock would stall enrollments. */
export const PRUNE_BATCH = 500;

/**
 * Every renewal leaves a superseded certificate behind; with certificates of hours or minutes the
 * registry would grow without bound. Deletes the superseded certificates that expired more than
 * `retentionMs` ago (src/domain/certificate-standing.ts `prunable`), in batches, each its own unit of
 * work that judges the locked rows again. The audit log keeps every serial (device.renewed entries).
 * Returns how many were deleted.
 */
export async function pruneSupersededCertificates(
  deps: PruneDeps,
  retentionMs: number,
  batch = PRUNE_BATCH,
): Promise<number> {
  let total = 0;
  for (;;) {
    const now = deps.clock.now();
    const { deleted, full } = await deps.registry.transact(async (tx) => {
      const candidates = await tx.supersededExpiredBefore(now - retentionMs, batch);
      const doomed = candidates.filter((certificate) => prunable(certificate, now, retentionMs));
      return {
        deleted: await tx.deleteSupersededCertificates(doomed.map((c) => c.serial)),
        full: candidates.length === batch,
      };
    });
    total += deleted;
    if (!full || deleted === 0) return total;
  }
}
