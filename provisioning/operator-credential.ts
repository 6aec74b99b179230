import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { addOperator } from "../src/app/add-operator.js";
import type { EnrollmentDeps } from "../src/app/deps.js";
import { newKeyAndCsr } from "../src/adapters/shared/local-credential.js";
import { writeNewFile } from "../src/adapters/shared/key-files.js";

/** Where the CLI finds operator credentials: `<data>/operators/<name>.crt|.key` (key 0600). */
export function operatorPaths(dataDir: string, name: string): { dir: string; cert: string; key: string } {
  const dir = join(dataDir, "operators");
  return { dir, cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

/** Refuses early (before anything is issued) when `<dir>/<name>.crt|.key` already exists. */
export function assertNoOperatorCredential(dir: string, name: string): void {
  if (existsSync(join(dir, `${name}.key`)) || existsSync(join(dir, `${name}.crt`)))
    throw new Error(`an operator credential for ${name} already exists in ${dir}`);
}

/** Writes an operator's key and certificate, refusing to overwrite an existing credential. */
export function writeOperatorCredential(
  dir: string,
  name: string,
  keyPem: string,
  certificatePem: string,
): { cert: string; key: string } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const files = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  assertNoOperatorCredential(dir, name);
  writeNewFile(files.key, keyPem, 0o600);
  writeNewFile(files.cert, certificatePem, 0o644);
  return files;
}

/** `fleetgate init` issues the first operator, `admin`, straight into the data dir. */
export async function issueFirstOperator(
  deps: EnrollmentDeps,
  dataDir: string,
): Promise<{ cert: string; key: string }> {
  const name = "admin";
  const { keyPem, csrDer } = await newKeyAndCsr(name);
  const operator = await addOperator(deps, name, await deps.decodeCsr(csrDer), "init");
  return writeOperatorCredential(operatorPaths(dataDir, name).dir, name, keyPem, operator.pem);
}
