import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { clientFor } from "./admin-client.js";
import { CliError, EXIT, printJson } from "./output.js";

type Opts = Record<string, unknown>;

interface ChainBreak {
  readonly seq: number;
  readonly problem: string;
}

interface Checkpoint {
  readonly statement: { readonly seq: number; readonly hash: string; readonly at: string; readonly issuer: string };
  readonly signature: { readonly algorithm: string; readonly value: string };
}

interface CheckpointVerification {
  readonly ok: boolean;
  readonly entries: number;
  readonly break: ChainBreak | null;
  readonly checkpoint: { seq: number; at: string; signatureValid: boolean; problem: string | null };
}

function tampered(broken: ChainBreak): CliError {
  return new CliError(`audit log TAMPERED at entry ${broken.seq}: ${broken.problem}`, EXIT.failed);
}

function readCheckpoint(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new CliError(`cannot read checkpoint ${file}: ${(error as Error).message}`, EXIT.usage);
  }
}

async function verifyAgainst(file: string, opts: Opts): Promise<void> {
  const result = await clientFor(opts).call<CheckpointVerification>("POST", "/v1/audit/verify", readCheckpoint(file));
  if (opts["json"]) printJson(result);
  const { checkpoint } = result;
  if (!checkpoint.signatureValid)
    throw new CliError(`checkpoint ${file} is NOT valid: ${String(checkpoint.problem)}`, EXIT.failed);
  if (!result.ok) throw tampered(result.break!);
  if (!opts["json"])
    console.log(
      `audit log intact: ${result.entries} entries, every hash link verified; ` +
        `entry ${checkpoint.seq} matches the checkpoint of ${checkpoint.at}`,
    );
}

/** `audit verify [--checkpoint FILE]`: exit 1 when the chain is broken or the checkpointed entry is gone. */
export async function auditVerify(opts: Opts): Promise<void> {
  if (typeof opts["checkpoint"] === "string") return verifyAgainst(opts["checkpoint"], opts);
  const result = await clientFor(opts).call<{ ok: boolean; entries: number; break: ChainBreak | null }>(
    "GET",
    "/v1/audit/verify",
  );
  if (opts["json"]) printJson(result);
  else if (result.ok) console.log(`audit log intact: ${result.entries} entries, every hash link verified`);
  if (!result.ok) throw tampered(result.break!);
}

/** `audit checkpoint [--out FILE]`: the signed statement, printed or written whole (never half a file). */
export async function auditCheckpoint(opts: Opts): Promise<void> {
  const checkpoint = await clientFor(opts).call<Checkpoint>("POST", "/v1/audit/checkpoint", {});
  const text = `${JSON.stringify(checkpoint, null, 2)}\n`;
  const out = opts["out"];
  if (typeof out !== "string") return void process.stdout.write(text);
  const partial = `${out}.${process.pid}.tmp`;
  writeFileSync(partial, text, { mode: 0o644 });
  renameSync(partial, out);
  const { seq, hash, issuer } = checkpoint.statement;
  if (opts["json"]) return printJson(checkpoint);
  console.log(`checkpoint of entry ${seq} (hash ${hash}) signed by the issuing CA (sha256 ${issuer}): ${out}`);
}
