import { randomBytes } from "node:crypto";
import pkcs11js from "pkcs11js";
import { ecParameters } from "./ec-public-key.js";
import { operationFailed } from "./ckr.js";
import { Pkcs11KeyError } from "./errors.js";
import { Pkcs11IssuerKey } from "./issuer-key.js";
import { findObjects } from "./objects.js";
import type { Pkcs11Token } from "./token.js";

export interface Pkcs11KeyGeneration {
  /** CKA_LABEL of both halves: what pkcs11.keyLabel names afterwards. */
  readonly label: string;
  readonly curve: "P-256" | "P-384";
}

const GENERATED_CURVES: readonly string[] = ["P-256", "P-384"];

/**
 * Creates the CA key pair in the token (for `init`) and returns it ready to sign. The private key can
 * never leave the token (sensitive, not extractable) and only signs; both halves are token objects
 * with the same label and a random CKA_ID that pairs them. An existing object with the label is never
 * replaced or duplicated: two keys under one label would leave `serve` unable to tell the CA key.
 */
export async function generatePkcs11Key(token: Pkcs11Token, options: Pkcs11KeyGeneration): Promise<Pkcs11IssuerKey> {
  const { label, curve } = options;
  if (!GENERATED_CURVES.includes(curve))
    throw new Pkcs11KeyError("PKCS11_UNSUPPORTED_CURVE", `a CA key is generated on P-256 or P-384, not ${curve}`);
  try {
    await token.withReadWriteSession(async (session) => {
      refuseExistingLabel(token, session, label);
      const id = randomBytes(16);
      const mechanism = { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN };
      await token.p11.C_GenerateKeyPairAsync(
        session,
        mechanism,
        publicTemplate(label, id, curve),
        privateTemplate(label, id),
      );
    });
  } catch (error) {
    if (error instanceof Pkcs11KeyError) throw error;
    throw operationFailed(`generating a ${curve} key pair labelled "${label}" on token "${token.label}"`, error);
  }
  return Pkcs11IssuerKey.find(token, label);
}

function refuseExistingLabel(token: Pkcs11Token, session: Buffer, label: string): void {
  const existing = findObjects(token.p11, session, [{ type: pkcs11js.CKA_LABEL, value: label }], 1);
  if (existing.length > 0)
    throw new Pkcs11KeyError(
      "PKCS11_KEY_EXISTS",
      `the token "${token.label}" already holds an object labelled "${label}"; init never replaces a key: ` +
        "choose another pkcs11.keyLabel, or delete the old key with the HSM's own tools first",
    );
}

function publicTemplate(label: string, id: Buffer, curve: "P-256" | "P-384"): pkcs11js.Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_EC },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_VERIFY, value: true },
    { type: pkcs11js.CKA_EC_PARAMS, value: ecParameters(curve) },
    { type: pkcs11js.CKA_LABEL, value: label },
    { type: pkcs11js.CKA_ID, value: id },
  ];
}

function privateTemplate(label: string, id: Buffer): pkcs11js.Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_EC },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    { type: pkcs11js.CKA_SIGN, value: true },
    { type: pkcs11js.CKA_LABEL, value: label },
    { type: pkcs11js.CKA_ID, value: id },
  ];
}
