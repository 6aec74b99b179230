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
export function recordAudit(registry: Pick<Registry, "transact">, input: AuditInput, at: number): Promise<AuditEntry> {
  return registry.transact((tx) => appendAudit(tx, input, at));
}

export interface AuditVerification {
  readonly ok: boolean;
  readonly entries: number;
  readonly break: ChainBreak | null;
  /** The seq and hash of the last entry verified (what a checkpoint signs). */
  readonly headSeq: number;
  readonly headHash: string;
}

const VERIFY_PAGE = 1000;
/** Appends that land while the log is walked move the head on; walk on after them this many times. */
const CATCH_UP_ROUNDS = 3;

interface Walk {
  hash: string;
  seq: number;
  entries: number;
  broken: ChainBreak | null;
  after: number;
}

/** Reads pages after `walk.after` until the end, verifying links up to the first break, counting after it. */
async function walkOn(registry: Registry, walk: Walk, pageSize: number): Promise<void> {
  for (;;) {
    const page = await registry.listAudit({ afterSeq: walk.after, limit: pageSize });
    if (page.length === 0) return;
    walk.entries += page.length;
    walk.after = page[page.length - 1]!.seq;
    if (walk.broken !== null) continue; // only counting from here on
    walk.broken = findChainBreak(page, walk.hash, walk.seq + 1);
    if (walk.broken === null) ({ hash: walk.hash, seq: walk.seq } = page[page.length - 1]!);
  }
}

/** Walks the whole chain one page at a time (memory stays flat however long the log is). */
export async function verifyAudit(registry: Registry, pageSize = VERIFY_PAGE): Promise<AuditVerification> {
  const walk: Walk = { hash: GENESIS_HASH, seq: 0, entries: 0, broken: null, after: 0 };
  await walkOn(registry, walk, pageSize);
  // The head row moves with every append: a log that ends before it (a deleted tail) or goes past it
  // (an inserted entry) disagrees with it. Appends made during the walk are caught up with first.
  let head = await registry.auditHead();
  for (let round = 0; walk.broken === null && head.seq > walk.seq && round < CATCH_UP_ROUNDS; round += 1) {
    await walkOn(registry, walk, pageSize);
    head = await registry.auditHead();
  }
  const { hash, seq, entries } = walk;
  if (walk.broken === null && (head.seq !== seq || head.hash !== hash)) {
    walk.broken = {
      seq: Math.min(seq, head.seq) + 1,
      problem: `the log ends at entry ${seq}, its head says ${head.seq}`,
    };
  }
  return { ok: walk.broken === null, entries, break: walk.broken, headSeq: seq, headHash: hash };
}
