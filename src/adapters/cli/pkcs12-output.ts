import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { read } from "read";
import { loadConfig } from "../../config.js";
import { pkiPaths, readPrivateKeyPem, writeNewFile } from "../shared/key-files.js";
import { buildPkcs12, MIN_P12_PASSWORD_LENGTH } from "../shared/pkcs12.js";
import { operatorPaths } from "../../../provisioning/operator-credential.js";
import { CliError, EXIT } from "./output.js";

type Opts = Record<string, unknown>;

/**
 * The .p12 password: the first line of `--password-file`, or typed twice on the terminal (not
 * echoed). Never an argument (it would sit in the shell history and `ps`), never printed or logged.
 */
export async function p12Password(opts: Opts): Promise<string> {
  const file = opts["passwordFile"] as string | undefined;
  const password = file ? readPasswordFile(file) : await promptTwice();
  if (password.length < MIN_P12_PASSWORD_LENGTH)
    throw new CliError(`the .p12 password must have at least ${MIN_P12_PASSWORD_LENGTH} characters`, EXIT.usage);
  return password;
}

function readPasswordFile(file: string): string {
  try {
    return readFileSync(file, "utf8").split(/\r?\n/)[0] ?? "";
  } catch (error) {
    throw new CliError(`cannot read --password-file ${file}: ${(error as NodeJS.ErrnoException).code}`, EXIT.usage);
  }
}

async function promptTwice(): Promise<string> {
  if (!process.stdin.isTTY)
    throw new CliError("no terminal to ask for the .p12 password on: use --password-file FILE", EXIT.usage);
  const ask = (prompt: string) => read({ prompt, silent: true, replace: "", output: process.stderr });
  const first = await ask("password for the .p12: ");
  if ((await ask("the same password again: ")) !== first) throw new CliError("the two passwords differ", EXIT.usage);
  return first;
}

/** Seals an operator's key and certificate (with the issuing CA) into `<file>`, mode 0600, never overwriting. */
export async function writeOperatorP12(
  dataDir: string,
  name: string,
  credential: { keyPem: string; certificatePem: string },
  file: string,
  password: string,
): Promise<string> {
  if (existsSync(file)) throw new CliError(`${file} already exists; remove it or choose --out`, EXIT.failed);
  const chainPem = [readFileSync(pkiPaths(dataDir).issuingCert, "utf8")];
  const p12 = await buildPkcs12({ ...credential, chainPem, friendlyName: `fleetgate operator ${name}`, password });
  writeNewFile(file, p12, 0o600);
  return file;
}

/** `fleetgate operator export NAME --p12`: an existing credential (e.g. init's `admin`) as a .p12 for a browser. */
async function operatorExport(name: string, opts: Opts): Promise<void> {
  if (!opts["p12"]) throw new CliError("say which format: --p12 (the only one so far)", EXIT.usage);
  const config = loadConfig(opts["data"] ? { dataDir: opts["data"] } : {});
  const paths = operatorPaths(config.dataDir, name);
  if (!existsSync(paths.key) || !existsSync(paths.cert))
    throw new CliError(`no operator credential ${paths.cert} / ${paths.key}`, EXIT.usage);
  const credential = { keyPem: readPrivateKeyPem(paths.key), certificatePem: readFileSync(paths.cert, "utf8") };
  const out = (opts["out"] as string | undefined) ?? join(paths.dir, `${name}.p12`);
  const file = await writeOperatorP12(config.dataDir, name, credential, out, await p12Password(opts));
  console.log(`operator ${name} exported to ${file} (PKCS#12, mode 0600): import it into your browser`);
}

export function registerOperatorExport(operator: Command): void {
  operator
    .command("export <name>")
    .description("write an operator credential as a password-protected PKCS#12 (.p12) for a browser")
    .option("--data <dir>", "data directory")
    .option("--p12", "PKCS#12 format")
    .option("--password-file <file>", "read the .p12 password from this file (else it is asked on the terminal)")
    .option("--out <file>", "where to write it (default <data>/operators/<name>.p12)")
    .action(operatorExport);
}
