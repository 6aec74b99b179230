import type { Config } from "../src/config.js";
import { FileIssuerKey } from "../src/adapters/ca/file-issuer-key.js";
import { withCaKeys } from "../src/wiring/pki-init.js";
import { signIssuingCsr } from "./issuing-csr.js";

export interface SignIssuingFiles {
  /** A PKCS#8 PEM file (0600), or `pkcs11:<label>` for a root key in the configured token. */
  readonly rootKey: string;
  readonly rootCertPem: string;
  readonly csrPem: string;
  readonly lifetimeMs?: number;
}

/** `fleetgate ca sign-issuing`: plain file operations on the machine that keeps the root key. */
export async function signIssuingCsrWith(
  config: Config,
  env: NodeJS.ProcessEnv,
  files: SignIssuingFiles,
): Promise<string> {
  const request = { rootCertPem: files.rootCertPem, csrPem: files.csrPem, lifetimeMs: files.lifetimeMs };
  if (!files.rootKey.startsWith("pkcs11:"))
    return signIssuingCsr({ ...request, rootKey: FileIssuerKey.load(files.rootKey) });
  const label = files.rootKey.slice("pkcs11:".length);
  return withCaKeys(config, env, async (keys) =>
    signIssuingCsr({ ...request, rootKey: await keys.open({ type: "pkcs11", label }, "the root CA key") }),
  );
}
