import { createRequire } from "node:module";
import { inspect } from "node:util";
import pkcs11js from "pkcs11js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Pkcs11KeyError, type Pkcs11ErrorCode } from "../../../../src/adapters/ca/pkcs11/errors.js";
import { Pkcs11IssuerKey } from "../../../../src/adapters/ca/pkcs11/issuer-key.js";
import { generatePkcs11Key } from "../../../../src/adapters/ca/pkcs11/key-generation.js";
import { findObjects } from "../../../../src/adapters/ca/pkcs11/objects.js";
import { Pkcs11Token } from "../../../../src/adapters/ca/pkcs11/token.js";
import { createSoftHsm, type SoftHsm } from "../../../helpers/softhsm.js";

/** Distinctive, so that a message quoting either would be caught. */
const PIN = "pin-3141-secret";
const WRONG_PIN = "pin-2718-wrong";
const TOKEN = "errors";
const LOCKED = "errors-locked";
/** Never logged in by this file's `token`, so a wrong PIN reaches C_Login. */
const SPARE = "errors-spare";

let hsm: SoftHsm;
let token: Pkcs11Token;
const seen: Pkcs11KeyError[] = [];

beforeAll(async () => {
  hsm = createSoftHsm();
  hsm.initToken(TOKEN, { pin: PIN });
  hsm.initToken(LOCKED, { pin: PIN });
  hsm.lockUserPin(LOCKED);
  hsm.initToken(SPARE, { pin: PIN });
  token = await Pkcs11Token.open({ module: hsm.module, token: TOKEN, pin: PIN });
  await generatePkcs11Key(token, { label: "ca", curve: "P-256" });
});

afterAll(async () => {
  await token?.close();
  hsm?.remove();
});

/** The PINs appear nowhere a log line could carry them: message, stack, cause chain. */
afterEach(() => {
  for (const error of seen.splice(0)) {
    const everything = inspect(error, { depth: 10 });
    expect(everything).not.toContain(PIN);
    expect(everything).not.toContain(WRONG_PIN);
  }
});

/** The Pkcs11KeyError `attempt` fails with, after checking its code. */
async function failure(attempt: Promise<unknown>, code: Pkcs11ErrorCode): Promise<Pkcs11KeyError> {
  const error = await attempt.then(
    () => new Error("expected a failure"),
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(Pkcs11KeyError);
  expect(error).toMatchObject({ code });
  seen.push(error as Pkcs11KeyError);
  return error as Pkcs11KeyError;
}

function open(options: { module?: string; token?: string; pin?: string }): Promise<Pkcs11Token> {
  return Pkcs11Token.open({ module: hsm.module, token: TOKEN, pin: PIN, ...options });
}

/** A key pair made with raw PKCS#11, for the shapes generatePkcs11Key never makes. */
function rawKeyPair(mechanism: number, publicTemplate: pkcs11js.Template, privateTemplate: pkcs11js.Template) {
  return token.withReadWriteSession((session) =>
    token.p11.C_GenerateKeyPair(
      session,
      { mechanism },
      [{ type: pkcs11js.CKA_TOKEN, value: true }, ...publicTemplate],
      [{ type: pkcs11js.CKA_TOKEN, value: true }, { type: pkcs11js.CKA_SIGN, value: true }, ...privateTemplate],
    ),
  );
}

function ecKeyPair(label: string, params: string, id: string) {
  const common = [
    { type: pkcs11js.CKA_LABEL, value: label },
    { type: pkcs11js.CKA_ID, value: Buffer.from(id) },
  ];
  return rawKeyPair(
    pkcs11js.CKM_EC_KEY_PAIR_GEN,
    [{ type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from(params, "hex") }, ...common],
    common,
  );
}

const P256_PARAMS = "06082a8648ce3d030107";

describe("opening the token", () => {
  it("names the module path when the library cannot be loaded", async () => {
    const error = await failure(open({ module: "/nonexistent/libvendor-pkcs11.so" }), "PKCS11_MODULE_LOAD_FAILED");
    expect(error.message).toContain("/nonexistent/libvendor-pkcs11.so");
  });

  it("refuses a shared library that is not a PKCS#11 module", async () => {
    const notPkcs11 = createRequire(import.meta.url).resolve("better-sqlite3/build/Release/better_sqlite3.node");
    const error = await failure(open({ module: notPkcs11 }), "PKCS11_MODULE_LOAD_FAILED");
    expect(error.message).toContain(notPkcs11);
  });

  it("lists the token labels that exist when the label matches none", async () => {
    const error = await failure(open({ token: "erors" }), "PKCS11_TOKEN_NOT_FOUND");
    expect(error.message).toContain('"erors"');
    expect(error.message).toContain(`"${TOKEN}"`);
    expect(error.message).toContain(`"${LOCKED}"`);
  });

  it("says the PIN is wrong, without the PIN", async () => {
    const error = await failure(open({ token: SPARE, pin: WRONG_PIN }), "PKCS11_PIN_INCORRECT");
    expect(error.message).toContain("CKR_PIN_INCORRECT");
    expect(error.message).toContain("FLEETGATE_PKCS11_PIN");
  });

  it("checks the PIN even when this process is already logged in to the token", async () => {
    const error = await failure(open({ pin: WRONG_PIN }), "PKCS11_PIN_INCORRECT");
    expect(error.message).toContain("another PIN");
    const second = await open({});
    await second.close();
  });

  it("says the PIN is locked, without trying it", async () => {
    const error = await failure(open({ token: LOCKED }), "PKCS11_PIN_LOCKED");
    expect(error.message).toContain(LOCKED);
  });
});

describe("finding the key", () => {
  it("lists the private key labels that exist when the label matches none", async () => {
    const error = await failure(Pkcs11IssuerKey.find(token, "ca-typo"), "PKCS11_KEY_NOT_FOUND");
    expect(error.message).toContain('"ca-typo"');
    expect(error.message).toContain('"ca"');
  });

  it("refuses a key that is not EC", async () => {
    const label = [{ type: pkcs11js.CKA_LABEL, value: "rsa" }];
    const rsaParams = [
      { type: pkcs11js.CKA_MODULUS_BITS, value: 2048 },
      { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
    ];
    await rawKeyPair(pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN, [...rsaParams, ...label], label);
    const error = await failure(Pkcs11IssuerKey.find(token, "rsa"), "PKCS11_KEY_NOT_EC");
    expect(error.message).toContain("CKK_RSA");
  });

  it("refuses a curve a CA does not sign with", async () => {
    await ecKeyPair("k1", "06052b8104000a", "k1"); // secp256k1
    const error = await failure(Pkcs11IssuerKey.find(token, "k1"), "PKCS11_UNSUPPORTED_CURVE");
    expect(error.message).toContain("06052b8104000a");
  });

  it("refuses two private keys under one label", async () => {
    await ecKeyPair("twice", P256_PARAMS, "one");
    await ecKeyPair("twice", P256_PARAMS, "two");
    await failure(Pkcs11IssuerKey.find(token, "twice"), "PKCS11_KEY_AMBIGUOUS");
  });

  it("says so when the public half is missing", async () => {
    const { publicKey } = await ecKeyPair("lonely", P256_PARAMS, "lonely");
    await token.withReadWriteSession((session) => token.p11.C_DestroyObject(session, publicKey));
    await failure(Pkcs11IssuerKey.find(token, "lonely"), "PKCS11_PUBLIC_KEY_NOT_FOUND");
  });

  it("refuses a private key stored with another key's public half", async () => {
    const mine = await ecKeyPair("mine", P256_PARAMS, "mine");
    const other = await ecKeyPair("other", P256_PARAMS, "other");
    await token.withReadWriteSession((session) => {
      token.p11.C_DestroyObject(session, mine.publicKey);
      token.p11.C_SetAttributeValue(session, other.publicKey, [
        { type: pkcs11js.CKA_LABEL, value: "mine" },
        { type: pkcs11js.CKA_ID, value: Buffer.from("mine") },
      ]);
    });
    await failure(Pkcs11IssuerKey.find(token, "mine"), "PKCS11_KEY_MISMATCH");
  });
});

describe("the PIN in memory", () => {
  it("is not shown when a token is logged or inspected", () => {
    expect(inspect(token, { depth: 5, showHidden: true })).not.toContain(PIN);
    expect(JSON.stringify(token)).not.toContain(PIN);
  });
});

describe("generating and closing", () => {
  it("never generates a second key under a label in use", async () => {
    await failure(generatePkcs11Key(token, { label: "ca", curve: "P-384" }), "PKCS11_KEY_EXISTS");
    const keys = await token.withSession((session) =>
      findObjects(token.p11, session, [{ type: pkcs11js.CKA_LABEL, value: "ca" }], 10),
    );
    expect(keys).toHaveLength(2);
  });

  it("refuses to sign once the token is closed", async () => {
    const own = await open({});
    const key = await Pkcs11IssuerKey.find(own, "ca");
    await own.close();
    await failure(key.sign(Buffer.from("late")), "PKCS11_CLOSED");
    await own.close();
  });
});
