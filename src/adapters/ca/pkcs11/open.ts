import { readPkcs11Pin, type Pkcs11Config } from "./config.js";
import { Pkcs11IssuerKey } from "./issuer-key.js";
import { Pkcs11Token } from "./token.js";

export interface OpenedPkcs11Key {
  readonly key: Pkcs11IssuerKey;
  /** Close at shutdown, after the last signature: logs out and finalizes the module. */
  readonly token: Pkcs11Token;
}

/** What `serve` needs from the `pkcs11` config: the PIN read, the token logged in, the CA key found. */
export async function openPkcs11IssuerKey(config: Pkcs11Config, env: NodeJS.ProcessEnv): Promise<OpenedPkcs11Key> {
  const pin = readPkcs11Pin(config, env);
  const token = await Pkcs11Token.open({ module: config.module, token: config.token, pin, sessions: config.sessions });
  try {
    return { key: await Pkcs11IssuerKey.find(token, config.keyLabel), token };
  } catch (error) {
    await token.close();
    throw error;
  }
}
