import { createHash } from "node:crypto";

/**
 * The audit log is hash-chained: each entry's hash covers its own content and the previous
 * entry's hash, so editing or deleting any entry breaks every hash after it.
 */
export const GENESIS_HASH = "0".repeat(64);

export interface ChainedContent {
  readonly seq: number;
  readonly at: number;
  readonly actor: string;
  readonly action: string;
  readonly subject: string | null;
  readonly details: Readonly<Record<string, unknown>>;
}

/** A stored entry: its content, the previous entry's hash and its own. */
export interface ChainedEntry extends ChainedContent {
  readonly prevHash: string;
  readonly hash: string;
}

/** JSON with object keys sorted at every depth, so the same content always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

export function chainHash(prevHash: string, content: ChainedContent): string {
  // Exactly the chained fields: a stored entry also carries prevHash/hash, which must not be hashed.
  const { seq, at, actor, action, subject, details } = content;
  const canonical = canonicalJson({ seq, at, actor, action, subject, details });
  return createHash("sha256").update(prevHash).update("\n").update(canonical).digest("hex");
}

/** The entry that follows `head` (seq 0 and GENESIS_HASH for an empty log). */
export function nextEntry(
  head: { readonly seq: number; readonly hash: string },
  content: Omit<ChainedContent, "seq">,
): ChainedEntry {
  const chained: ChainedContent = { ...content, seq: head.seq + 1 };
  return { ...chained, prevHash: head.hash, hash: chainHash(head.hash, chained) };
}

export interface ChainBreak {
  readonly seq: number;
  readonly problem: string;
}

/** Walks the chain in order; returns the first break, or null when every link holds. */
export function findChainBreak(
  entries: Iterable<ChainedEntry>,
  startHash = GENESIS_HASH,
  startSeq = 1,
): ChainBreak | null {
  let expectedPrev = startHash;
  let expectedSeq = startSeq;
  for (const entry of entries) {
    if (entry.seq !== expectedSeq) return { seq: expectedSeq, problem: `entry ${expectedSeq} is missing` };
    if (entry.prevHash !== expectedPrev) return { seq: entry.seq, problem: "previous-hash link broken" };
    if (chainHash(entry.prevHash, entry) !== entry.hash)
      return { seq: entry.seq, problem: "content does not match its hash" };
    expectedPrev = entry.hash;
    expectedSeq += 1;
  }
  return null;
}
