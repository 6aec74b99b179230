import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  asnExtensions,
  nameOf,
  parseSpki,
  signCertificate,
  subjectKeyIdentifier,
} from "../../../src/adapters/ca/certificate-builder.js";
import { FileIssuerKey } from "../../../src/adapters/ca/file-issuer-key.js";
import { CaNotary } from "../../../src/adapters/ca/notary.js";
import { generatePkcs11Key } from "../../../src/adapters/ca/pkcs11/key-generation.js";
import { Pkcs11Token } from "../../../src/adapters/ca/pkcs11/token.js";
import { x509 } from "../../../src/adapters/shared/x509.js";
import type { IssuerKey } from "../../../src/ports.js";
import { createSoftHsm, type SoftHsm } from "../../helpers/softhsm.js";

/**
 * The notary signs through the IssuerKey port and verifies against the CA certificate: the same for
 * a key file and for a key in an HSM (SoftHSM2 here).
 */
const DAY = 86_400_000;

async function caFor(
  key: IssuerKey,
): Promise<{ key: IssuerKey; der: Uint8Array<ArrayBuffer>; certificate: x509.X509Certificate }> {
  const name = nameOf([["2.5.4.3", "notary test CA"]]);
  const spki = parseSpki(key.spki);
  const der = await signCertificate(
    {
      serialHex: "01",
      issuer: name,
      subject: name,
      notBefore: new Date(Date.now() - DAY),
      notAfter: new Date(Date.now() + DAY),
      subjectPublicKeyInfo: spki,
      extensions: [...asnExtensions([new x509.BasicConstraintsExtension(true, 0, true)]), subjectKeyIdentifier(spki)],
    },
    key,
  );
  return { key, der: new Uint8Array(der), certificate: new x509.X509Certificate(new Uint8Array(der)) };
}

const statement = new TextEncoder().encode('{"hash":"ab","seq":6}');

async function expectSignsAndVerifies(notary: CaNotary): Promise<void> {
  const signature = await notary.sign(statement);
  expect(await notary.verify(statement, signature)).toBe(true);
  expect(await notary.verify(new TextEncoder().encode('{"hash":"ab","seq":5}'), signature)).toBe(false);
  expect(await notary.verify(statement, new Uint8Array([0x30, 0x02, 0x01]))).toBe(false); // not DER
}

describe("CaNotary", { timeout: 60_000 }, () => {
  let hsm: SoftHsm;
  let token: Pkcs11Token;
  beforeAll(async () => {
    hsm = createSoftHsm();
    const spec = hsm.initToken("notary");
    token = await Pkcs11Token.open({ module: hsm.module, token: "notary", pin: spec.pin, sessions: 2 });
  });
  afterAll(async () => {
    await token?.close();
    hsm?.remove();
  });

  it("with a key file: names the certificate by its SHA-256 and the algorithm by the CA's hash", async () => {
    const ca = await caFor(FileIssuerKey.generate("P-256").key);
    const notary = new CaNotary(ca);
    expect(notary.algorithm).toBe("ecdsa-with-SHA256");
    expect(notary.certificateSha256).toMatch(/^[0-9a-f]{64}$/);
    await expectSignsAndVerifies(notary);
  });

  it("with a PKCS#11 key (P-256 and P-384): the same signatures, through the same port", async () => {
    for (const curve of ["P-256", "P-384"] as const) {
      const key = await generatePkcs11Key(token, { label: `notary-${curve}`, curve });
      const notary = new CaNotary(await caFor(key));
      expect(notary.algorithm).toBe(curve === "P-256" ? "ecdsa-with-SHA256" : "ecdsa-with-SHA384");
      await expectSignsAndVerifies(notary);
    }
  });

  it("refuses a signature made by another CA's key", async () => {
    const ours = new CaNotary(await caFor(FileIssuerKey.generate("P-256").key));
    const theirs = new CaNotary(await caFor(FileIssuerKey.generate("P-256").key));
    expect(await ours.verify(statement, await theirs.sign(statement))).toBe(false);
  });
});
