import { createHash, createPublicKey, verify, type KeyObject } from "node:crypto";
import type { Notaries, Notary } from "../../ports.js";
import type { IssuingCa } from "./issuing-ca.js";

/**
 * The issuing CA as a notary: statements are signed by its IssuerKey — the very call that signs
 * certificates and CRLs, so a file key and a PKCS#11 key behave alike — and verified against the
 * public key of its certificate. The signature is detached and plain (a DER ECDSA-Sig-Value over the
 * statement's bytes, hashed with the CA's hash), so `openssl dgst -verify` checks it too.
 */
export class CaNotary implements Notary {
  readonly certificateSha256: string;
  readonly algorithm: string;
  private readonly publicKey: KeyObject;
  private readonly nodeHash: string;

  constructor(private readonly ca: Pick<IssuingCa, "key" | "der" | "certificate">) {
    this.certificateSha256 = createHash("sha256").update(ca.der).digest("hex");
    const hash = ca.key.algorithm.hash; // "SHA-256"
    this.algorithm = `ecdsa-with-${hash.replace("-", "")}`;
    this.nodeHash = hash.replace("-", "").toLowerCase();
    const spki = Buffer.from(ca.certificate.publicKey.rawData);
    this.publicKey = createPublicKey({ key: spki, format: "der", type: "spki" });
  }

  sign(statement: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
    return this.ca.key.sign(statement);
  }

  async verify(statement: Uint8Array, signature: Uint8Array): Promise<boolean> {
    try {
      return verify(this.nodeHash, statement, { key: this.publicKey, dsaEncoding: "der" }, signature);
    } catch {
      return false; // not even a DER ECDSA-Sig-Value
    }
  }
}

type NotaryCa = ConstructorParameters<typeof CaNotary>[0];

/**
 * The issuing CAs trusted now (active first, as the ring lists them) as notaries. Asked on every call,
 * so a reload's new ring is used at once; each CA's notary is built once (its public key parsed once).
 */
export class RingNotaries implements Notaries {
  private readonly built = new WeakMap<NotaryCa, CaNotary>();

  constructor(private readonly trusted: () => readonly NotaryCa[]) {}

  current(): Notary {
    return this.notaryOf(this.trusted()[0]!);
  }

  find(certificateSha256: string): Notary | undefined {
    const notaries = this.trusted().map((ca) => this.notaryOf(ca));
    return notaries.find((notary) => notary.certificateSha256 === certificateSha256);
  }

  private notaryOf(ca: NotaryCa): CaNotary {
    const known = this.built.get(ca);
    if (known !== undefined) return known;
    const notary = new CaNotary(ca);
    this.built.set(ca, notary);
    return notary;
  }
}
