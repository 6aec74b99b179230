import { deviceIdProblem } from "./device-id.js";
import { FleetgateError, type ErrorCode } from "./errors.js";

/**
 * CSR policy as an ordered list of small rules, each with one stable refusal code. The adapter
 * that decodes PKCS#10 reduces a CSR to `CsrFacts`; the rules never see bytes.
 */
export type CsrKey =
  | { readonly type: "EC"; readonly curve: string }
  | { readonly type: "RSA"; readonly bits: number }
  | { readonly type: "other"; readonly algorithm: string };

export interface CsrFacts {
  /** RFC 2986 §3: the self-signature is the requester's proof of possession of the private key. */
  readonly signatureValid: boolean;
  readonly commonNames: readonly string[];
  readonly key: CsrKey;
  /** RFC 5280 §4.2.1.9: a requested basicConstraints cA=TRUE. */
  readonly requestsCa: boolean;
}

export interface DecodedCsr {
  readonly facts: CsrFacts;
  /** SubjectPublicKeyInfo DER: the only thing from the CSR that reaches the certificate. */
  readonly publicKeySpki: Uint8Array<ArrayBuffer>;
}

/** Allowed key specs: `ec:P-256`, `ec:P-384`, `rsa:2048` (RSA of at least that many bits). */
export type KeySpec = `ec:${string}` | `rsa:${number}`;

export const DEFAULT_ALLOWED_KEYS: readonly KeySpec[] = ["ec:P-256", "ec:P-384", "rsa:2048"];
const RSA_MAX_BITS = 8192;

export interface CsrPolicyContext {
  readonly allowedKeys: readonly KeySpec[];
  /** Which CNs the presented credential (token or current certificate) may enroll. */
  readonly mayEnroll: (commonName: string) => boolean;
}

export interface CsrRule {
  readonly name: string;
  readonly code: ErrorCode;
  /** Returns null when the rule passes, else the internal reason (logged, never sent). */
  check(facts: CsrFacts, context: CsrPolicyContext): string | null;
}

export function keyAllowed(key: CsrKey, allowed: readonly KeySpec[]): boolean {
  return allowed.some((spec) => {
    const [family, param] = spec.split(":") as [string, string];
    if (family === "ec") return key.type === "EC" && key.curve === param;
    if (family === "rsa") return key.type === "RSA" && key.bits >= Number(param) && key.bits <= RSA_MAX_BITS;
    return false;
  });
}

function describeKey(key: CsrKey): string {
  if (key.type === "EC") return `EC ${key.curve}`;
  if (key.type === "RSA") return `RSA-${key.bits}`;
  return key.algorithm;
}

// Key type first: a key we cannot use is refused as such, even when its signature cannot be checked.
export const CSR_RULES: readonly CsrRule[] = [
  {
    name: "key-type-allowed",
    code: "key_not_allowed",
    check: (facts, context) =>
      keyAllowed(facts.key, context.allowedKeys) ? null : `${describeKey(facts.key)} is not allowed`,
  },
  {
    name: "proof-of-possession",
    code: "csr_signature_invalid",
    check: (facts) => (facts.signatureValid ? null : "self-signature does not verify"),
  },
  {
    name: "single-valid-common-name",
    code: "cn_invalid",
    check: (facts) => {
      if (facts.commonNames.length !== 1) return `expected exactly one CN, found ${facts.commonNames.length}`;
      const problem = deviceIdProblem(facts.commonNames[0]);
      return problem === null ? null : `CN ${problem}`;
    },
  },
  {
    name: "common-name-matches-credential",
    code: "cn_mismatch",
    check: (facts, context) => (context.mayEnroll(facts.commonNames[0]!) ? null : "CN not covered by credential"),
  },
  {
    name: "no-ca-request",
    code: "csr_requests_ca",
    check: (facts) => (facts.requestsCa ? "CSR asks for basicConstraints cA=TRUE" : null),
  },
];

/** Applies the rules in order; the first failure is the refusal. Returns the validated CN. */
export function applyCsrPolicy(facts: CsrFacts, context: CsrPolicyContext, rules = CSR_RULES): string {
  for (const rule of rules) {
    const reason = rule.check(facts, context);
    if (reason !== null) throw new FleetgateError(rule.code, `${rule.name}: ${reason}`);
  }
  return facts.commonNames[0]!;
}
