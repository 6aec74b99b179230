import { createPublicKey, generateKeyPairSync, verify } from "node:crypto";
import pkcs11js from "pkcs11js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  asnExtensions,
  nameOf,
  parseSpki,
  signCertificate,
  subjectKeyIdentifier,
  subjectOf,
} from "../../../../src/adapters/ca/certificate-builder.js";
import { Pkcs11IssuerKey } from "../../../../src/adapters/ca/pkcs11/issuer-key.js";
import { generatePkcs11Key } from "../../../../src/adapters/ca/pkcs11/key-generation.js";
import { openPkcs11IssuerKey } from "../../../../src/adapters/ca/pkcs11/open.js";
import { findObjects, readAttributes } from "../../../../src/adapters/ca/pkcs11/objects.js";
import { Pkcs11Token } from "../../../../src/adapters/ca/pkcs11/token.js";
import type { IssuerKey } from "../../../../src/ports.js";
import { derToPem } from "../../../../src/adapters/shared/pem.js";
import { x509 } from "../../../../src/adapters/shared/x509.js";
import { makeTempDir, openssl } from "../../../helpers/certs.js";
import { createSoftHsm, type SoftHsm, type SoftHsmToken } from "../../../helpers/softhsm.js";

const TOKEN = "fleetgate-ca";
let hsm: SoftHsm;
let spec: SoftHsmToken;
let token: Pkcs11Token;
let p256: Pkcs11IssuerKey;
let p384: Pkcs11IssuerKey;

beforeAll(async () => {
  hsm = createSoftHsm();
  spec = hsm.initToken(TOKEN);
  token = await Pkcs11Token.open({ module: hsm.module, token: TOKEN, pin: spec.pin, sessions: 4 });
  p256 = await generatePkcs11Key(token, { label: "root-p256", curve: "P-256" });
  p384 = await generatePkcs11Key(token, { label: "root-p384", curve: "P-384" });
});

afterAll(async () => {
  await token?.close();
  hsm?.remove();
});

function verifies(key: IssuerKey, data: Uint8Array, signature: Uint8Array): boolean {
  const publicKey = createPublicKey({ key: Buffer.from(key.spki), format: "der", type: "spki" });
  return verify(
    key.algorithm.hash.replace("-", "").toLowerCase(),
    data,
    { key: publicKey, dsaEncoding: "der" },
    signature,
  );
}

/** The two halves of the pair labelled `label`, as the test reads them straight from the token. */
function pairHandles(session: Buffer, label: string): { privateKey: Buffer; publicKey: Buffer } {
  const find = (objectClass: number) =>
    findObjects(
      token.p11,
      session,
      [
        { type: pkcs11js.CKA_CLASS, value: objectClass },
        { type: pkcs11js.CKA_LABEL, value: label },
      ],
      2,
    );
  const [privateKey, ...morePrivate] = find(pkcs11js.CKO_PRIVATE_KEY);
  const [publicKey, ...morePublic] = find(pkcs11js.CKO_PUBLIC_KEY);
  expect(morePrivate.length + morePublic.length).toBe(0);
  return { privateKey: privateKey!, publicKey: publicKey! };
}

describe("generatePkcs11Key", () => {
  it("makes a token key pair whose private half can only sign and never leaves the token", async () => {
    await token.withSession((session) => {
      const { privateKey, publicKey } = pairHandles(session, "root-p256");
      expect(() => token.p11.C_GetAttributeValue(session, privateKey, [{ type: pkcs11js.CKA_VALUE }])).toThrow(
        /CKR_ATTRIBUTE_SENSITIVE/,
      );
      const flags = [
        pkcs11js.CKA_TOKEN,
        pkcs11js.CKA_PRIVATE,
        pkcs11js.CKA_SENSITIVE,
        pkcs11js.CKA_EXTRACTABLE,
        pkcs11js.CKA_SIGN,
        pkcs11js.CKA_NEVER_EXTRACTABLE,
      ];
      const values = readAttributes(token.p11, session, privateKey, flags).map((value) => value[0]);
      expect(values).toEqual([1, 1, 1, 0, 1, 1]);
      const [publicToken, publicVerify] = readAttributes(token.p11, session, publicKey, [
        pkcs11js.CKA_TOKEN,
        pkcs11js.CKA_VERIFY,
      ]);
      expect([publicToken![0], publicVerify![0]]).toEqual([1, 1]);
      const [privateId] = readAttributes(token.p11, session, privateKey, [pkcs11js.CKA_ID]);
      const [publicId] = readAttributes(token.p11, session, publicKey, [pkcs11js.CKA_ID]);
      expect(privateId!.length).toBe(16);
      expect(publicId).toEqual(privateId);
    });
  });

  it("gives the SPKI of the point the token holds, on the requested curve", async () => {
    for (const [key, label, curve, nodeCurve] of [
      [p256, "root-p256", "P-256", "prime256v1"],
      [p384, "root-p384", "P-384", "secp384r1"],
    ] as const) {
      const ecPoint = await token.withSession(
        (session) =>
          readAttributes(token.p11, session, pairHandles(session, label).publicKey, [pkcs11js.CKA_EC_POINT])[0]!,
      );
      const publicKey = createPublicKey({ key: Buffer.from(key.spki), format: "der", type: "spki" });
      expect(publicKey.asymmetricKeyDetails?.namedCurve).toBe(nodeCurve);
      expect(publicKey.export({ type: "spki", format: "der" })).toEqual(Buffer.from(key.spki));
      // CKA_EC_POINT is the DER OCTET STRING (04 len) around the point that ends the SPKI.
      expect(Buffer.from(key.spki).subarray(-(ecPoint.length - 2))).toEqual(ecPoint.subarray(2));
      expect(key.algorithm).toEqual({
        name: "ECDSA",
        namedCurve: curve,
        hash: curve === "P-256" ? "SHA-256" : "SHA-384",
      });
      const text = openssl(["pkey", "-pubin", "-inform", "DER", "-noout", "-text"], key.spki);
      expect(text).toContain(`ASN1 OID: ${nodeCurve}`);
    }
  });
});

describe("Pkcs11IssuerKey", () => {
  it("signs what node:crypto verifies, for any length of data", async () => {
    for (const key of [p256, p384]) {
      for (const size of [0, 1, 32, 4096, 1 << 20]) {
        const data = Buffer.alloc(size, size & 0xff);
        expect(verifies(key, data, await key.sign(data))).toBe(true);
      }
    }
  });

  it("finds an existing key again by its label, with the same SPKI", async () => {
    const found = await Pkcs11IssuerKey.find(token, "root-p384");
    expect(Buffer.from(found.spki)).toEqual(Buffer.from(p384.spki));
    expect(verifies(p384, Buffer.from("again"), await found.sign(Buffer.from("again")))).toBe(true);
  });

  it("signs a CA certificate and a device certificate that openssl verifies", () => {
    return withTempDir(async (dir) => {
      const root = await selfSignedCa(p384);
      const leafKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
      const leaf = await deviceCertificate(p384, root, leafKey.export({ type: "spki", format: "der" }));
      const rootPem = dir.file("root.pem", derToPem(new Uint8Array(root), "CERTIFICATE"));
      const leafPem = dir.file("leaf.pem", derToPem(new Uint8Array(leaf), "CERTIFICATE"));
      expect(openssl(["x509", "-in", rootPem, "-noout", "-text"])).toContain("ecdsa-with-SHA384");
      expect(openssl(["verify", "-check_ss_sig", "-CAfile", rootPem, rootPem]).trim()).toBe(`${rootPem}: OK`);
      expect(openssl(["verify", "-CAfile", rootPem, leafPem]).trim()).toBe(`${leafPem}: OK`);
    });
  });

  it("runs 50 concurrent signatures through the pool, each one valid", async () => {
    const messages = Array.from({ length: 50 }, (_, i) => Buffer.from(`message ${i}`));
    const keys = messages.map((_, i) => (i % 3 === 0 ? p384 : p256));
    const signatures = await Promise.all(messages.map((message, i) => keys[i]!.sign(message)));
    signatures.forEach((signature, i) => expect(verifies(keys[i]!, messages[i]!, signature)).toBe(true));
  });

  it("signs again after the token dropped every session (handles and login are renewed)", async () => {
    await token.withSession(() => token.p11.C_CloseAllSessions(token.slot));
    const data = Buffer.from("after the sessions went away");
    expect(verifies(p256, data, await p256.sign(data))).toBe(true);
  });
});

describe("Pkcs11Token", () => {
  it("lends each session to one piece of work at a time, at most `sessions` at once", async () => {
    const active = new Set<string>();
    const used = new Set<string>();
    let started = 0;
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const work = Array.from({ length: 10 }, () =>
      token.withSession(async (session) => {
        const id = session.toString("hex");
        expect(active.has(id)).toBe(false);
        active.add(id);
        used.add(id);
        started++;
        await gate;
        active.delete(id);
      }),
    );
    for (let i = 0; i < 20; i++) await new Promise(setImmediate);
    expect(started).toBe(4);
    open();
    await Promise.all(work);
    expect(started).toBe(10);
    expect(used.size).toBeLessThanOrEqual(4);
  });

  it("close() lets a signature in flight finish, refuses new ones, and leaves other users logged in", async () => {
    const second = await Pkcs11Token.open({ module: hsm.module, token: TOKEN, pin: spec.pin, sessions: 2 });
    const key = await Pkcs11IssuerKey.find(second, "root-p256");
    const data = Buffer.from("in flight");
    const pending = key.sign(data);
    const closing = second.close();
    await expect(key.sign(data)).rejects.toMatchObject({ code: "PKCS11_CLOSED" });
    expect(verifies(key, data, await pending)).toBe(true);
    await closing;
    expect(verifies(p256, data, await p256.sign(data))).toBe(true);
  });
});

describe("openPkcs11IssuerKey", () => {
  it("reads the PIN, logs in and finds the configured key; a missing key closes the token again", async () => {
    const config = { module: hsm.module, token: TOKEN, keyLabel: "root-p384", sessions: 2 };
    const env = { FLEETGATE_PKCS11_PIN: spec.pin };
    const { key, token: opened } = await openPkcs11IssuerKey(config, env);
    const data = Buffer.from("configured");
    expect(verifies(key, data, await key.sign(data))).toBe(true);
    await opened.close();
    await expect(openPkcs11IssuerKey({ ...config, keyLabel: "absent" }, env)).rejects.toMatchObject({
      code: "PKCS11_KEY_NOT_FOUND",
    });
    expect(verifies(p384, data, await p384.sign(data))).toBe(true);
  });
});

async function withTempDir(run: (dir: ReturnType<typeof makeTempDir>) => Promise<void>): Promise<void> {
  const dir = makeTempDir("fleetgate-pkcs11-");
  try {
    await run(dir);
  } finally {
    dir.remove();
  }
}

const DAY = 86_400_000;

function selfSignedCa(key: IssuerKey): Promise<Buffer> {
  const name = nameOf([["2.5.4.3", "fleetgate HSM root"]]);
  const spki = parseSpki(key.spki);
  const extensions = asnExtensions([
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
  ]);
  return signCertificate(
    {
      serialHex: "01",
      issuer: name,
      subject: name,
      notBefore: new Date(Date.now() - DAY),
      notAfter: new Date(Date.now() + 365 * DAY),
      subjectPublicKeyInfo: spki,
      extensions: [...extensions, subjectKeyIdentifier(spki)],
    },
    key,
  );
}

function deviceCertificate(key: IssuerKey, issuerDer: Buffer, deviceSpki: Buffer): Promise<Buffer> {
  const issuer = new x509.X509Certificate(new Uint8Array(issuerDer));
  const spki = parseSpki(deviceSpki);
  return signCertificate(
    {
      serialHex: "02",
      issuer: subjectOf(issuer),
      subject: nameOf([["2.5.4.3", "device-1"]]),
      notBefore: new Date(Date.now() - DAY),
      notAfter: new Date(Date.now() + 30 * DAY),
      subjectPublicKeyInfo: spki,
      extensions: asnExtensions([new x509.BasicConstraintsExtension(false, undefined, true)]),
    },
    key,
  );
}
