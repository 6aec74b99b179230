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
  for (;;) {
    const page = await registry.listAudit({ afterSeq: seq, limit: pageSize });
    if (page.length === 0) break;
    const broken = findChainBreak(page, hash, seq + 1);
    if (broken !== null) return { ok: false, entries: seq, break: broken, headHash: hash };
    const last = page[page.length - 1]!;
    hash = last.hash;
    seq = last.seq;
  }
  // Entries after the head (or a head beyond the last entry) mean the log and its head disagree.
  const head = await registry.auditHead();
  if (head.seq !== seq || head.hash !== hash) {
    return {
      ok: false,
      entries: seq,
      break: { seq: seq + 1, problem: `audit head says ${head.seq} entries` },
      headHash: hash,
    };
  }
  return { ok: true, entries: seq, break: null, headHash: hash };
}
