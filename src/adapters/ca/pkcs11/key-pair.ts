import pkcs11js from "pkcs11js";
import { curveOf, ecSpki, uncompressedPoint, type EcCurve } from "./ec-public-key.js";
import { Pkcs11KeyError } from "./errors.js";
import { findObjects, labelOf, readAttributes, ulongOf } from "./objects.js";

/**
 * Finding the CA key pair by CKA_LABEL: the private key (which signs) and the public key stored next to
 * it (whose CKA_EC_POINT gives the SPKI: a token does not have to expose the point on the private key).
 * The public key is matched on CKA_ID as well when the private key has one, the way PKCS#11 ties the
 * halves of a pair; the label alone may be shared by an old and a new key.
 */
export interface LocatedKeyPair {
  readonly privateKey: Buffer;
  readonly id: Buffer;
  readonly curve: EcCurve;
  readonly spki: Uint8Array<ArrayBuffer>;
}

/** Labels listed when a key is not found: enough to spot a typo, not a dump of a large HSM. */
const LISTED_LABELS = 20;

export function locateKeyPair(
  p11: pkcs11js.PKCS11,
  session: Buffer,
  tokenLabel: string,
  label: string,
): LocatedKeyPair {
  const { handle: privateKey, id } = locatePrivateKey(p11, session, tokenLabel, label);
  const [keyType] = readAttributes(p11, session, privateKey, [pkcs11js.CKA_KEY_TYPE]);
  const type = ulongOf(keyType!);
  if (type !== pkcs11js.CKK_EC)
    throw new Pkcs11KeyError(
      "PKCS11_KEY_NOT_EC",
      `the key labelled "${label}" on token "${tokenLabel}" is ${keyTypeName(type)}, not EC; ` +
        "a fleetgate CA signs with ECDSA on P-256 or P-384",
    );
  const publicKey = locatePublicKey(p11, session, tokenLabel, label, id);
  const [params, ecPoint] = readAttributes(p11, session, publicKey, [pkcs11js.CKA_EC_PARAMS, pkcs11js.CKA_EC_POINT]);
  const curve = curveOf(params!);
  if (curve === null)
    throw new Pkcs11KeyError(
      "PKCS11_UNSUPPORTED_CURVE",
      `the key labelled "${label}" on token "${tokenLabel}" is on a curve fleetgate does not sign with ` +
        `(CKA_EC_PARAMS ${params!.toString("hex")}); use P-256 or P-384`,
    );
  const point = uncompressedPoint(ecPoint!, curve);
  if (point === null)
    throw new Pkcs11KeyError(
      "PKCS11_PUBLIC_KEY_INVALID",
      `the public key labelled "${label}" has a CKA_EC_POINT that is not an uncompressed ${curve} point`,
    );
  return { privateKey, id, curve, spki: ecSpki(curve, point) };
}

/** The private key labelled `label`, which must be the only one. */
export function locatePrivateKey(
  p11: pkcs11js.PKCS11,
  session: Buffer,
  tokenLabel: string,
  label: string,
): { handle: Buffer; id: Buffer } {
  const template = [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
    { type: pkcs11js.CKA_LABEL, value: label },
  ];
  const found = findObjects(p11, session, template, 2);
  if (found.length > 1)
    throw new Pkcs11KeyError(
      "PKCS11_KEY_AMBIGUOUS",
      `several private keys on token "${tokenLabel}" are labelled "${label}"; relabel or delete all but the CA key`,
    );
  if (found.length === 0) {
    const present = privateKeyLabels(p11, session).join(", ") || "none";
    throw new Pkcs11KeyError(
      "PKCS11_KEY_NOT_FOUND",
      `no private key labelled "${label}" (pkcs11.keyLabel) on token "${tokenLabel}"; private keys there: ${present}`,
    );
  }
  const [id] = readAttributes(p11, session, found[0]!, [pkcs11js.CKA_ID]);
  return { handle: found[0]!, id: id! };
}

function locatePublicKey(p11: pkcs11js.PKCS11, session: Buffer, tokenLabel: string, label: string, id: Buffer): Buffer {
  const template = [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
    { type: pkcs11js.CKA_LABEL, value: label },
    ...(id.length > 0 ? [{ type: pkcs11js.CKA_ID, value: id }] : []),
  ];
  const found = findObjects(p11, session, template, 2);
  if (found.length === 1) return found[0]!;
  const withId = id.length > 0 ? ` and CKA_ID ${id.toString("hex")}` : "";
  if (found.length > 1)
    throw new Pkcs11KeyError(
      "PKCS11_KEY_AMBIGUOUS",
      `several public keys on token "${tokenLabel}" are labelled "${label}"${withId}; delete all but the CA key's`,
    );
  throw new Pkcs11KeyError(
    "PKCS11_PUBLIC_KEY_NOT_FOUND",
    `the token "${tokenLabel}" has the private key labelled "${label}" but no public key with that label${withId}; ` +
      "fleetgate needs it to know the key's public point",
  );
}

function privateKeyLabels(p11: pkcs11js.PKCS11, session: Buffer): string[] {
  const keys = findObjects(
    p11,
    session,
    [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }],
    LISTED_LABELS,
  );
  return keys.map((key) => JSON.stringify(labelOf(p11, session, key)));
}

const KEY_TYPE_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(pkcs11js)
    .filter((entry): entry is [string, number] => entry[0].startsWith("CKK_") && typeof entry[1] === "number")
    .map(([name, value]) => [value, name]),
);

function keyTypeName(type: number): string {
  return `a ${KEY_TYPE_NAMES.get(type) ?? "vendor-defined"} key (CKA_KEY_TYPE 0x${type.toString(16)})`;
}
