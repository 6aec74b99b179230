import { chmodSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Pkcs11ConfigSchema, readPkcs11Pin } from "../../../../src/adapters/ca/pkcs11/config.js";
import { makeTempDir, type TempDir } from "../../../helpers/certs.js";

const VALID = { module: "/usr/lib/softhsm/libsofthsm2.so", token: "fleetgate", keyLabel: "issuing-ca" };

describe("Pkcs11ConfigSchema", () => {
  it("takes module, token, keyLabel and an optional pinFile, with 4 sessions by default", () => {
    expect(Pkcs11ConfigSchema.parse(VALID)).toEqual({ ...VALID, sessions: 4 });
    expect(Pkcs11ConfigSchema.parse({ ...VALID, pinFile: "/run/secrets/pin", sessions: 8 })).toMatchObject({
      pinFile: "/run/secrets/pin",
      sessions: 8,
    });
  });

  it("refuses a PIN in the file, pointing at where a PIN goes", () => {
    const result = Pkcs11ConfigSchema.safeParse({ ...VALID, pin: "1234" });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toBe(
      "the PIN is never read from fleetgate.json: set FLEETGATE_PKCS11_PIN or pkcs11.pinFile",
    );
  });

  it("refuses a relative module path, a token label over 32 bytes, and unknown keys", () => {
    expect(Pkcs11ConfigSchema.safeParse({ ...VALID, module: "libsofthsm2.so" }).success).toBe(false);
    expect(Pkcs11ConfigSchema.safeParse({ ...VALID, token: "é".repeat(17) }).success).toBe(false);
    expect(Pkcs11ConfigSchema.safeParse({ ...VALID, token: "t".repeat(32) }).success).toBe(true);
    expect(Pkcs11ConfigSchema.safeParse({ ...VALID, slot: 0 }).success).toBe(false);
  });
});

describe("readPkcs11Pin", () => {
  let dir: TempDir;
  beforeEach(() => {
    dir = makeTempDir("fleetgate-pkcs11-pin-");
  });
  afterEach(() => dir.remove());

  function pinFile(content: string, mode: number): string {
    const path = dir.file("pin", content);
    chmodSync(path, mode);
    return path;
  }

  it("takes FLEETGATE_PKCS11_PIN first", () => {
    const file = pinFile("from-file\n", 0o600);
    expect(readPkcs11Pin({ pinFile: file }, { FLEETGATE_PKCS11_PIN: "from-env" })).toBe("from-env");
  });

  it("reads a 0600 pin file without its final newline", () => {
    expect(readPkcs11Pin({ pinFile: pinFile("12 34\n", 0o600) }, {})).toBe("12 34");
    expect(readPkcs11Pin({ pinFile: pinFile("5678", 0o400) }, {})).toBe("5678");
  });

  it("refuses a pin file others may read, with the fix in the message", () => {
    const file = pinFile("1234\n", 0o644);
    expect(() => readPkcs11Pin({ pinFile: file }, {})).toThrow(
      expect.objectContaining({
        code: "PKCS11_PIN_FILE_INSECURE",
        message: expect.stringContaining(`chmod 600 ${file}`),
      }),
    );
    expect(() => readPkcs11Pin({ pinFile: pinFile("1234", 0o640) }, {})).toThrow(
      expect.objectContaining({ code: "PKCS11_PIN_FILE_INSECURE" }),
    );
  });

  it("says where a PIN may come from when there is none", () => {
    expect(() => readPkcs11Pin({}, {})).toThrow(expect.objectContaining({ code: "PKCS11_PIN_MISSING" }));
    expect(() => readPkcs11Pin({}, { FLEETGATE_PKCS11_PIN: "" })).toThrow(/FLEETGATE_PKCS11_PIN or pkcs11.pinFile/);
    expect(() => readPkcs11Pin({ pinFile: `${dir.dir}/absent` }, {})).toThrow(
      expect.objectContaining({ code: "PKCS11_PIN_MISSING" }),
    );
    expect(() => readPkcs11Pin({ pinFile: pinFile("\n", 0o600) }, {})).toThrow(/is empty/);
  });
});
