import { canonicalJson, type ChainBreak, type ChainedEntry } from "./audit-chain.js";

/**
 * A signed audit checkpoint: "the log's entry `seq` had hash `hash` at `at`", signed by the issuing
 * CA. Kept outside the database, it reveals what the hash chain alone cannot: a tail deleted together
 * with a rewound head row. The signed bytes are the statement's canonical JSON (keys sorted, no
 * spaces), so any tool can rebuild them (`jq -cjS .statement`).
 */
export const CHECKPOINT_FORMAT = "fleetgate-audit-checkpoint/1";

export interface CheckpointStatement {
  readonly format: typeof CHECKPOINT_FORMAT;
  readonly seq: number;
  /** The chain hash of entry `seq` (hex SHA-256). */
  readonly hash: string;
  /** ISO 8601: when it was signed. */
  readonly at: string;
  /** SHA-256 of the signing CA certificate's DER, hex: which key to verify with. */
  readonly issuer: string;
}

export interface SignedCheckpoint {
  readonly statement: CheckpointStatement;
  /** A detached signature over statementBytes(statement): `value` is the base64 DER ECDSA-Sig-Value. */
  readonly signature: { readonly algorithm: string; readonly value: string };
}

export function statementBytes(statement: CheckpointStatement): Uint8Array {
  const { format, seq, hash, at, issuer } = statement;
  return new TextEncoder().encode(canonicalJson({ format, seq, hash, at, issuer }));
}

/** Does the log still hold the entry a checkpoint signed? `entry` is the log's entry `statement.seq`. */
export function checkpointBreak(statement: CheckpointStatement, entry: ChainedEntry | undefined): ChainBreak | null {
  if (statement.seq === 0) return null; // a checkpoint of the empty log: nothing it could lose
  const signed = `the checkpoint of ${statement.at} signs entry ${statement.seq} with hash ${statement.hash}`;
  if (entry === undefined || entry.seq !== statement.seq)
    return { seq: statement.seq, problem: `entry ${statement.seq} is missing (${signed})` };
  if (entry.hash !== statement.hash)
    return { seq: statement.seq, problem: `entry ${statement.seq} is not the one checkpointed (${signed})` };
  return null;
}
