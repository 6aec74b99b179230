import type { ChainBreak } from "../domain/audit-chain.js";
import {
  checkpointBreak,
  CHECKPOINT_FORMAT,
  statementBytes,
  type CheckpointStatement,
  type SignedCheckpoint,
} from "../domain/audit-checkpoint.js";
import { FleetgateError } from "../domain/errors.js";
import type { Clock, Notaries, Registry } from "../ports.js";
import { appendAudit, verifyAudit } from "./audit-log.js";

export interface CheckpointDeps {
  readonly registry: Registry;
  readonly notaries: Notaries;
  readonly clock: Clock;
}

/**
 * `audit checkpoint`: verifies the chain, then has the issuing CA sign "entry `seq` has hash `hash`"
 * (through the Notary port, i.e. the CA's IssuerKey), then records that a checkpoint was taken
 * (`audit.checkpoint`, the entry after the one it signs). A broken chain is never signed over.
 */
export async function takeCheckpoint(deps: CheckpointDeps, actor: string): Promise<SignedCheckpoint> {
  const verified = await verifyAudit(deps.registry);
  if (!verified.ok)
    throw new FleetgateError(
      "audit_chain_broken",
      `audit log broken at entry ${verified.break!.seq}: ${verified.break!.problem}`,
    );
  const at = deps.clock.now();
  const notary = deps.notaries.current();
  const statement: CheckpointStatement = {
    format: CHECKPOINT_FORMAT,
    seq: verified.headSeq,
    hash: verified.headHash,
    at: new Date(at).toISOString(),
    issuer: notary.certificateSha256,
  };
  const signature = await notary.sign(statementBytes(statement));
  const { seq, hash, issuer } = statement;
  await deps.registry.transact((tx) =>
    appendAudit(tx, { actor, action: "audit.checkpoint", subject: null, details: { seq, hash, issuer } }, at),
  );
  return {
    statement,
    signature: { algorithm: notary.algorithm, value: Buffer.from(signature).toString("base64") },
  };
}

export interface CheckpointVerification {
  /** The signature verified and the log holds every entry it should, every link intact. */
  readonly ok: boolean;
  readonly entries: number;
  /** The first problem in the log (a broken link, or the checkpointed entry missing or changed). */
  readonly break: ChainBreak | null;
  readonly checkpoint: {
    readonly seq: number;
    readonly at: string;
    readonly signatureValid: boolean;
    /** Why the checkpoint itself is not to be trusted (then the log was not judged against it). */
    readonly problem: string | null;
  };
}

/** Why a checkpoint is not one a trusted issuing CA signed, or null when its signature verifies. */
async function signatureProblem(notaries: Notaries, checkpoint: SignedCheckpoint): Promise<string | null> {
  const { statement, signature } = checkpoint;
  const notary = notaries.find(statement.issuer);
  if (notary === undefined)
    return `signed by a CA certificate that is not a trusted issuing CA (sha256 ${statement.issuer})`;
  if (signature.algorithm !== notary.algorithm)
    return `signature algorithm ${signature.algorithm}; the issuing CA signs with ${notary.algorithm}`;
  const ok = await notary.verify(statementBytes(statement), Buffer.from(signature.value, "base64"));
  return ok ? null : "the signature does not verify against the issuing CA certificate";
}

/**
 * `audit verify --checkpoint`: the checkpoint's signature first (a forged checkpoint proves nothing),
 * then the whole chain, then that the log still holds the checkpointed entry with its hash — which a
 * truncated tail with a rewound head row does not.
 */
export async function verifyCheckpoint(
  deps: Omit<CheckpointDeps, "clock">,
  checkpoint: SignedCheckpoint,
): Promise<CheckpointVerification> {
  const { seq, at } = checkpoint.statement;
  const problem = await signatureProblem(deps.notaries, checkpoint);
  const verified = await verifyAudit(deps.registry);
  const described = { seq, at, signatureValid: problem === null, problem };
  if (problem !== null) return { ok: false, entries: verified.entries, break: verified.break, checkpoint: described };
  const [entry] = seq > 0 ? await deps.registry.listAudit({ afterSeq: seq - 1, limit: 1 }) : [];
  const missing = checkpointBreak(checkpoint.statement, entry);
  // The earliest problem is the one to name: a chain broken before the checkpointed entry says more.
  const first = [verified.break, missing].filter((b): b is ChainBreak => b !== null).sort((a, b) => a.seq - b.seq)[0];
  return { ok: first === undefined, entries: verified.entries, break: first ?? null, checkpoint: described };
}
