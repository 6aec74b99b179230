import { findChainBreak, GENESIS_HASH, nextEntry, type ChainBreak } from "../domain/audit-chain.js";
import type { AuditEntry, AuditInput, Registry, RegistryTx } from "../ports.js";

/**
 * Appends one hash-chained entry inside a unit of work. The head is read (and locked) in the same unit
 * that inserts, so concurrent appends — from this process or from other nodes — form one chain.
 */
export async function appendAudit(tx: RegistryTx, input: AuditInput, at: number): Promise<AuditEntry> {
  const entry = nextEntry(await tx.auditHead(), { ...input, at });
  await tx.appendAudit(entry);
  return entry;
}

/** An audit entry on its own (an auth failure, a checkpoint): its own unit of work. */
export function recordAudit(registry: Registry, input: AuditInput, at: number): Promise<AuditEntry> {
  return registry.transact((tx) => appendAudit(tx, input, at));
}

export interface AuditVerification {
  readonly ok: boolean;
  readonly entries: number;
  readonly break: ChainBreak | null;
  /** The hash of the last entry verified (what a checkpoint signs). */
  readonly headHash: string;
}

const VERIFY_PAGE = 1000;

/** Walks the whole chain one page at a time (memory stays flat however long the log is). */
export async function verifyAudit(registry: Registry, pageSize = VERIFY_PAGE): Promise<AuditVerification> {
  let hash = GENESIS_HASH;
  let seq = 0;
  let entries = 0;
  let broken: ChainBreak | null = null;
  for (let after = 0; ;) {
    const page = await registry.listAudit({ afterSeq: after, limit: pageSize });
    if (page.length === 0) break;
    entries += page.length;
    after = page[page.length - 1]!.seq;
    if (broken !== null) continue; // only counting from here on
    broken = findChainBreak(page, hash, seq + 1);
    if (broken === null) ({ hash, seq } = page[page.length - 1]!);
  }
  // The head row moves with every append: a log that ends before it (a deleted tail) or goes past it
  // (an inserted entry) disagrees with it.
  const head = await registry.auditHead();
  if (broken === null && (head.seq !== seq || head.hash !== hash)) {
    broken = { seq: Math.min(seq, head.seq) + 1, problem: `the log ends at entry ${seq}, its head says ${head.seq}` };
  }
  return { ok: broken === null, entries, break: broken, headHash: hash };
}
