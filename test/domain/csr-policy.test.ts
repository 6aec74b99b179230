import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  applyCsrPolicy,
  CSR_RULES,
  DEFAULT_ALLOWED_KEYS,
  keyAllowed,
  type CsrFacts,
  type CsrKey,
  type CsrPolicyContext,
  type KeySpec,
} from "../../src/domain/csr-policy.js";
import { ERROR_CATALOGUE, FleetgateError, type ErrorCode } from "../../src/domain/errors.js";

const VALID: CsrFacts = {
  signatureValid: true,
  commonNames: ["dev-1"],
  key: { type: "EC", curve: "P-256" },
  requestsCa: false,
};

const CONTEXT: CsrPolicyContext = { allowedKeys: DEFAULT_ALLOWED_KEYS, mayEnroll: (cn) => cn === "dev-1" };

/** The refusal code, or "ok" with the returned CN. */
function judge(overrides: Partial<CsrFacts>, context: CsrPolicyContext = CONTEXT): ErrorCode | `ok:${string}` {
  try {
    return `ok:${applyCsrPolicy({ ...VALID, ...overrides }, context)}`;
  } catch (error) {
    if (error instanceof FleetgateError) return error.code;
    throw error;
  }
}

function rule(name: string) {
  const found = CSR_RULES.find((r) => r.name === name);
  if (!found) throw new Error(`no rule ${name}`);
  return found;
}

describe("CSR policy: rule list", () => {
  it("has the documented rules, in order, each with its stable code", () => {
    expect(CSR_RULES.map((r) => [r.name, r.code])).toEqual([
      ["key-type-allowed", "key_not_allowed"],
      ["proof-of-possession", "csr_signature_invalid"],
      ["single-valid-common-name", "cn_invalid"],
      ["common-name-matches-credential", "cn_mismatch"],
      ["no-ca-request", "csr_requests_ca"],
    ]);
  });

  it("accepts a valid CSR and returns its CN", () => {
    expect(judge({})).toBe("ok:dev-1");
  });

  it("reports the first failing rule when several fail", () => {
    const allWrong: Partial<CsrFacts> = {
      key: { type: "RSA", bits: 1024 },
      signatureValid: false,
      commonNames: ["a/b"],
      requestsCa: true,
    };
    expect(judge(allWrong)).toBe("key_not_allowed");
    expect(judge({ ...allWrong, key: VALID.key })).toBe("csr_signature_invalid");
    expect(judge({ ...allWrong, key: VALID.key, signatureValid: true })).toBe("cn_invalid");
    expect(judge({ ...allWrong, key: VALID.key, signatureValid: true, commonNames: ["other"] })).toBe("cn_mismatch");
    expect(judge({ ...allWrong, key: VALID.key, signatureValid: true, commonNames: ["dev-1"] })).toBe(
      "csr_requests_ca",
    );
  });

  it("sends only the catalogue message; the rule's reason stays internal", () => {
    try {
      applyCsrPolicy({ ...VALID, commonNames: ["bad#cn"] }, CONTEXT);
      expect.unreachable("policy accepted a CN with #");
    } catch (error) {
      const refusal = error as FleetgateError;
      expect(refusal.toPublicJSON()).toEqual({ code: "cn_invalid", message: ERROR_CATALOGUE.cn_invalid.message });
      expect(refusal.detail).toContain("single-valid-common-name");
      expect(JSON.stringify(refusal.toPublicJSON())).not.toContain("bad#cn");
    }
  });
});

describe("CSR policy: key types (key_not_allowed)", () => {
  it.each<[string, CsrKey, ErrorCode | "ok:dev-1"]>([
    ["EC P-256", { type: "EC", curve: "P-256" }, "ok:dev-1"],
    ["EC P-384", { type: "EC", curve: "P-384" }, "ok:dev-1"],
    ["RSA 2048", { type: "RSA", bits: 2048 }, "ok:dev-1"],
    ["RSA 4096", { type: "RSA", bits: 4096 }, "ok:dev-1"],
    ["RSA 8192", { type: "RSA", bits: 8192 }, "ok:dev-1"],
    ["RSA 1024", { type: "RSA", bits: 1024 }, "key_not_allowed"],
    ["RSA 2047", { type: "RSA", bits: 2047 }, "key_not_allowed"],
    ["RSA 16384 (absurdly large)", { type: "RSA", bits: 16384 }, "key_not_allowed"],
    ["EC P-521 (not in the default list)", { type: "EC", curve: "P-521" }, "key_not_allowed"],
    ["secp256k1 (as @peculiar/x509 names it)", { type: "EC", curve: "K-256" }, "key_not_allowed"],
    ["secp256k1 (OpenSSL name)", { type: "EC", curve: "secp256k1" }, "key_not_allowed"],
    ["Ed25519", { type: "other", algorithm: "Ed25519" }, "key_not_allowed"],
    ["an unrecognised algorithm", { type: "other", algorithm: "unrecognised" }, "key_not_allowed"],
  ])("%s", (_label, key, expected) => {
    expect(judge({ key })).toBe(expected);
  });

  it("is judged before the signature, so an unverifiable exotic key is refused as a key", () => {
    expect(judge({ key: { type: "other", algorithm: "Ed448" }, signatureValid: false })).toBe("key_not_allowed");
  });

  it("follows the configured list", () => {
    const only384: readonly KeySpec[] = ["ec:P-384"];
    expect(keyAllowed({ type: "EC", curve: "P-256" }, only384)).toBe(false);
    expect(keyAllowed({ type: "EC", curve: "P-384" }, only384)).toBe(true);
    expect(keyAllowed({ type: "RSA", bits: 4096 }, only384)).toBe(false);
    expect(keyAllowed({ type: "EC", curve: "P-521" }, ["ec:P-521"])).toBe(true);
    expect(keyAllowed({ type: "RSA", bits: 2048 }, ["rsa:3072"])).toBe(false);
    expect(keyAllowed({ type: "RSA", bits: 3072 }, ["rsa:3072"])).toBe(true);
    // An EC spec never admits RSA keys and vice versa, whatever the numbers.
    expect(keyAllowed({ type: "RSA", bits: 2048 }, ["ec:P-256"])).toBe(false);
    expect(keyAllowed({ type: "EC", curve: "P-256" }, ["rsa:2048"])).toBe(false);
    expect(keyAllowed({ type: "EC", curve: "P-256" }, [])).toBe(false);
  });
});

describe("CSR policy: proof of possession (csr_signature_invalid)", () => {
  it("refuses a CSR whose self-signature does not verify", () => {
    expect(judge({ signatureValid: false })).toBe("csr_signature_invalid");
  });
});

describe("CSR policy: common name (cn_invalid)", () => {
  it.each<[string, readonly string[]]>([
    ["empty", [""]],
    ["65 characters", ["a".repeat(65)]],
    ["#", ["dev#1"]],
    ["+", ["dev+1"]],
    ["/", ["dev/1"]],
    ["$", ["$SYS"]],
    ["NUL", ["dev\u00001"]],
    ["space", ["dev 1"]],
    ["trailing newline", ["dev-1\n"]],
    ["non-ASCII letter", ["dévice"]],
    ["no CN at all", []],
    ["two CNs", ["dev-1", "dev-2"]],
    ["the same CN twice", ["dev-1", "dev-1"]],
  ])("refuses %s", (_label, commonNames) => {
    // The credential would accept anything: only the CN rule can refuse.
    expect(judge({ commonNames }, { ...CONTEXT, mayEnroll: () => true })).toBe("cn_invalid");
  });

  it.each(["a", "a".repeat(64), "A.b_c-9", "...", "-", "dev-1"])("accepts %j", (cn) => {
    expect(judge({ commonNames: [cn] }, { ...CONTEXT, mayEnroll: () => true })).toBe(`ok:${cn}`);
  });

  it("accepts exactly the strings matching /^[A-Za-z0-9._-]{1,64}$/ (property)", () => {
    const check = rule("single-valid-common-name");
    const allowedChar = fc.constantFrom(..."abcXYZ019._-");
    const nearlyAllowedChar = fc.constantFrom(..."aZ9._-#+/$ \u0000\n\té€😀:@");
    const candidates = fc.oneof(
      // Any code points, lone surrogates included.
      fc.array(fc.nat({ max: 0x10ffff }), { maxLength: 80 }).map((points) => String.fromCodePoint(...points)),
      fc.string({ unit: allowedChar, minLength: 0, maxLength: 70 }),
      fc.string({ unit: nearlyAllowedChar, minLength: 0, maxLength: 70 }),
      fc.string({ unit: allowedChar, minLength: 60, maxLength: 68 }),
    );
    fc.assert(
      fc.property(candidates, (cn) => {
        const accepted = check.check({ ...VALID, commonNames: [cn] }, CONTEXT) === null;
        return accepted === /^[A-Za-z0-9._-]{1,64}$/.test(cn);
      }),
      { numRuns: 1000 },
    );
  });
});

describe("CSR policy: credential (cn_mismatch)", () => {
  it("refuses a valid CN the credential does not cover, and asks the credential with that CN", () => {
    const asked: string[] = [];
    const context: CsrPolicyContext = { ...CONTEXT, mayEnroll: (cn) => (asked.push(cn), false) };
    expect(judge({ commonNames: ["dev-2"] }, context)).toBe("cn_mismatch");
    expect(asked).toEqual(["dev-2"]);
  });

  it("never asks the credential about an invalid CN", () => {
    let asked = false;
    expect(judge({ commonNames: ["dev+1"] }, { ...CONTEXT, mayEnroll: () => (asked = true) })).toBe("cn_invalid");
    expect(asked).toBe(false);
  });
});

describe("CSR policy: CA request (csr_requests_ca)", () => {
  it("refuses a CSR asking for basicConstraints cA=TRUE", () => {
    expect(judge({ requestsCa: true })).toBe("csr_requests_ca");
    expect(ERROR_CATALOGUE.csr_requests_ca.status).toBe(403);
  });
});
