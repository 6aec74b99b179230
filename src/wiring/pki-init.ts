import type { Config } from "../config.js";
import { CaKeys } from "../adapters/ca/ca-keys.js";
import { pkiPaths } from "../adapters/shared/key-files.js";
import { openPkiErrors } from "./pki.js";

/**
 * Runs `work` with the CA key maker of `config` (files, or the PKCS#11 token: its errors become
 * ConfigError, exit 2) and closes the token afterwards.
 */
export async function withCaKeys<T>(
  config: Config,
  env: NodeJS.ProcessEnv,
  work: (keys: CaKeys) => Promise<T>,
): Promise<T> {
  const keys = new CaKeys(pkiPaths(config.dataDir), config.pkcs11, env);
  try {
    return await openPkiErrors(() => work(keys));
  } finally {
    await keys.close();
  }
}
