/**
 * Library: pkcs11js (pinned), not graphene-pk11. Both come from the same maintainers and graphene is a
 * layer over pkcs11js, so it cannot be better maintained than its base; what it adds is an object model
 * (Module/Slot/Session/Key) that this adapter's dozen calls do not need, with looser types (its attribute
 * templates are `[key: string]: any`) and callback-only asynchronous signing. pkcs11js binds PKCS#11
 * 1:1 with typings, throws Pkcs11Error carrying the CKR_* code, and has Promise variants (C_SignAsync)
 * that run the call on libuv's worker pool, off the event loop.
 */
import { createHash, createPublicKey, randomBytes, verify, type KeyObject } from "node:crypto";
import pkcs11js from "pkcs11js";
import type { IssuerKey } from "../../../ports.js";
import { hashForCurve } from "../signature-algorithm.js";
import { coordinateBytes, type EcCurve } from "./ec-public-key.js";
import { ecdsaRawToDer } from "./ecdsa-signature.js";
import { isCkr, operationFailed } from "./ckr.js";
import { Pkcs11KeyError } from "./errors.js";
import { locateKeyPair, locatePrivateKey } from "./key-pair.js";
import type { Pkcs11Token } from "./token.js";

/** Failures after which the same signature may succeed with a fresh session and a fresh key handle. */
const STALE = [
  pkcs11js.CKR_SESSION_HANDLE_INVALID,
  pkcs11js.CKR_SESSION_CLOSED,
  pkcs11js.CKR_KEY_HANDLE_INVALID,
  pkcs11js.CKR_OBJECT_HANDLE_INVALID,
  pkcs11js.CKR_USER_NOT_LOGGED_IN,
  pkcs11js.CKR_OPERATION_ACTIVE,
];

/**
 * The CA key held by a token. The digest is computed here with node:crypto and the token signs it with
 * plain CKM_ECDSA: the combined CKM_ECDSA_SHA256/384 mechanisms are missing from many HSMs, and
 * hashing a certificate in the HSM only sends it more bytes. C_SignAsync runs on a worker thread, so a slow
 * (network) HSM does not hold the event loop; only C_SignInit, which starts the operation without computing
 * anything, stays synchronous, because pkcs11js has no asynchronous variant of it.
 */
export class Pkcs11IssuerKey implements IssuerKey {
  readonly algorithm: IssuerKey["algorithm"];
  private readonly nodeHash: string;
  private readonly signatureBytes: number;

  private constructor(
    private readonly token: Pkcs11Token,
    readonly label: string,
    readonly curve: EcCurve,
    readonly spki: Uint8Array<ArrayBuffer>,
    private handle: Buffer,
  ) {
    this.algorithm = { name: "ECDSA", namedCurve: curve, hash: hashForCurve(curve) };
    this.nodeHash = this.algorithm.hash.replace("-", "").toLowerCase();
    this.signatureBytes = 2 * coordinateBytes(curve);
  }

  /**
   * The key pair labelled `label` on `token`, checked by one signature: a private key that does not
   * match the public key stored with it would otherwise surface as CA certificates that never verify.
   */
  static async find(token: Pkcs11Token, label: string): Promise<Pkcs11IssuerKey> {
    const pair = await token
      .withSession((session) => locateKeyPair(token.p11, session, token.label, label))
      .catch((error: unknown) => {
        throw error instanceof Pkcs11KeyError ? error : operationFailed(`finding key "${label}"`, error);
      });
    const key = new Pkcs11IssuerKey(token, label, pair.curve, pair.spki, pair.privateKey);
    await key.checkPair(publicKeyOf(pair.spki, label));
    return key;
  }

  async sign(data: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
    const digest = createHash(this.nodeHash).update(data).digest();
    try {
      return await this.signDigest(digest);
    } catch (error) {
      if (!isCkr(error, ...STALE)) throw this.signingFailed(error);
    }
    // The token restarted or dropped our sessions, and with them the object handles: find the key again.
    try {
      this.handle = await this.token.withSession(
        (session) => locatePrivateKey(this.token.p11, session, this.token.label, this.label).handle,
      );
      return await this.signDigest(digest);
    } catch (error) {
      throw this.signingFailed(error);
    }
  }

  private signDigest(digest: Buffer): Promise<Uint8Array<ArrayBuffer>> {
    const { p11 } = this.token;
    return this.token.withSession(async (session) => {
      p11.C_SignInit(session, { mechanism: pkcs11js.CKM_ECDSA }, this.handle);
      const raw = await p11.C_SignAsync(session, digest, Buffer.alloc(this.signatureBytes));
      return ecdsaRawToDer(raw, this.signatureBytes / 2);
    });
  }

  private async checkPair(publicKey: KeyObject): Promise<void> {
    const challenge = randomBytes(32);
    const signature = await this.sign(challenge);
    if (!verify(this.nodeHash, challenge, { key: publicKey, dsaEncoding: "der" }, signature))
      throw new Pkcs11KeyError(
        "PKCS11_KEY_MISMATCH",
        `the private key labelled "${this.label}" on token "${this.token.label}" does not match the public key ` +
          "stored with it (same label and CKA_ID): certificates it signs would not verify against that public key",
      );
  }

  private signingFailed(error: unknown): Error {
    if (error instanceof Pkcs11KeyError) return error;
    return operationFailed(`signing with key "${this.label}" on token "${this.token.label}"`, error);
  }
}

/** node:crypto checks the point is on the curve, which copying CKA_EC_POINT into an SPKI does not. */
function publicKeyOf(spki: Uint8Array<ArrayBuffer>, label: string): KeyObject {
  try {
    return createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
  } catch (error) {
    const reason = (error as Error).message;
    throw new Pkcs11KeyError("PKCS11_PUBLIC_KEY_INVALID", `the public key labelled "${label}" is unusable: ${reason}`, {
      cause: error,
    });
  }
}
