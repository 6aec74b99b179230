import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import type { IssuerKey } from "../../ports.js";
import { readPrivateKeyPem } from "../shared/key-files.js";
import { hashForCurve } from "./signature-algorithm.js";

/** OpenSSL's curve names → the names fleetgate uses (FIPS 186-4 / WebCrypto). */
const CURVES: Readonly<Record<string, string>> = { prime256v1: "P-256", secp384r1: "P-384", secp521r1: "P-521" };

/**
 * A CA key in a PKCS#8 file (mode 0600, checked on every load), signing with node:crypto: the DER
 * ECDSA-Sig-Value comes straight out of OpenSSL, no WebCrypto round trip.
 */
export class FileIssuerKey implements IssuerKey {
  readonly algorithm: IssuerKey["algorithm"];
  readonly spki: Uint8Array<ArrayBuffer>;
  private readonly nodeHash: string;

  constructor(private readonly key: KeyObject) {
    const curve = CURVES[key.asymmetricKeyDetails?.namedCurve ?? ""];
    if (key.asymmetricKeyType !== "ec" || curve === undefined)
      throw new Error("a CA key must be ECDSA P-256, P-384 or P-521");
    this.algorithm = { name: "ECDSA", namedCurve: curve, hash: hashForCurve(curve) };
    this.nodeHash = this.algorithm.hash.replace("-", "").toLowerCase();
    this.spki = new Uint8Array(createPublicKey(key).export({ type: "spki", format: "der" }));
  }

  static load(path: string): FileIssuerKey {
    return new FileIssuerKey(createPrivateKey(readPrivateKeyPem(path)));
  }

  /** A new key pair (for `init`); `pem` is what gets written, 0600. */
  static generate(namedCurve: "P-256" | "P-384"): { key: FileIssuerKey; pem: string } {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve });
    const pem = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
    return { key: new FileIssuerKey(privateKey), pem };
  }

  async sign(data: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
    return new Uint8Array(sign(this.nodeHash, data, { key: this.key, dsaEncoding: "der" }));
  }
}
