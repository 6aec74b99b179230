/**
 * The ACL splits its rules once per session and each topic once per check (src/domain/acl.ts). These
 * properties hold it to the uncached algorithm it replaced, kept below verbatim as the reference: for
 * random templates, identities and topics (wildcards, '$' topics, empty levels, '+'/'#' inside levels,
 * non-ASCII, lone surrogates, U+0000) every verdict must be the same object, field for field.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Acl, deriveAcl, type Action, type AclConfig, type AclVerdict } from "../../src/domain/acl.js";
import { filterCoveredBy, validateTopicFilter, validateTopicName } from "../../src/domain/topic.js";

// ---------------------------------------------------------------------------------------------
// Reference: the per-call implementation as it was before rules were compiled (validation by
// code point, split both strings on every match, find the first rule).
// ---------------------------------------------------------------------------------------------

function refEncodingProblem(text: string): string | null {
  if (text.length === 0) return "empty";
  let bytes = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp === 0) return "contains U+0000";
    if (cp >= 0xd800 && cp <= 0xdfff) return "contains a lone UTF-16 surrogate";
    bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  if (bytes > 65_535) return `longer than 65535 UTF-8 bytes`;
  return null;
}

function refValidateName(topic: string): string | null {
  const problem = refEncodingProblem(topic);
  if (problem !== null) return problem;
  if (topic.includes("+") || topic.includes("#")) return "contains a wildcard (+ or #)";
  return null;
}

function refValidateFilter(filter: string): string | null {
  const problem = refEncodingProblem(filter);
  if (problem !== null) return problem;
  const levels = filter.split("/");
  for (const [index, level] of levels.entries()) {
    if (level === "#") {
      if (index !== levels.length - 1) return "'#' is not the last level";
    } else if (level.includes("#")) {
      return "'#' does not occupy a whole level";
    } else if (level !== "+" && level.includes("+")) {
      return "'+' does not occupy a whole level";
    }
  }
  return null;
}

function refMatches(topic: string, filter: string): boolean {
  if (refValidateName(topic) !== null || refValidateFilter(filter) !== null) return false;
  const topicLevels = topic.split("/");
  const filterLevels = filter.split("/");
  if (topic.startsWith("$") && (filterLevels[0] === "+" || filterLevels[0] === "#")) return false;
  for (const [index, level] of filterLevels.entries()) {
    if (level === "#") return true;
    const topicLevel = topicLevels[index];
    if (topicLevel === undefined) return false;
    if (level !== "+" && level !== topicLevel) return false;
  }
  return topicLevels.length === filterLevels.length;
}

const refDeny = (reason: string): AclVerdict => ({ allowed: false, rule: null, reason });

function refFirstRule(acl: Acl, rules: readonly string[], fits: (rule: string) => boolean, denial: string) {
  const rule = rules.find(fits);
  if (rule !== undefined) return { allowed: true, rule, reason: `allowed by rule ${rule}` };
  return refDeny(acl.unknownRole ? `unknown role ${JSON.stringify(acl.role)}: nothing is allowed` : denial);
}

function refCheck(acl: Acl, action: Action, topic: string): AclVerdict {
  if (action === "publish") {
    const problem = refValidateName(topic);
    if (problem !== null) return refDeny(`invalid topic name: ${problem}`);
    return refFirstRule(acl, acl.publishRules, (rule) => refMatches(topic, rule), "no publish rule matches this topic");
  }
  const problem = refValidateFilter(topic);
  if (problem !== null) return refDeny(`invalid topic filter: ${problem}`);
  const covered = (rule: string) => filterCoveredBy(topic, rule);
  return refFirstRule(acl, acl.subscribeRules, covered, "no subscribe rule covers this filter");
}

function refCanReceive(acl: Acl, topic: string): boolean {
  if (refValidateName(topic) !== null) return false;
  return acl.subscribeRules.some((rule) => refMatches(topic, rule));
}

// ---------------------------------------------------------------------------------------------
// Generators: levels chosen to collide with each other and with the CN, plus arbitrary strings.
// ---------------------------------------------------------------------------------------------

const CNS = ["dev-1", "dev-10", "a", "ü", "🚀", "x y", "$x", "+", "#", "", "a/b", "\ud800", "{cn}", "d\u0000"];
const cnArb = fc.oneof(fc.constantFrom(...CNS), fc.string({ unit: "grapheme", minLength: 1, maxLength: 4 }));

const LITERALS = ["", "a", "devices", "dev-1", "dev-10", "telemetry", "$SYS", "$", "ü", "🚀", "A", " "];
const BROKEN = ["a+", "+a", "a#", "#a", "\u0000", "\ud800", "\udc00", "🚀".slice(0, 1)];
const templateLevelArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...LITERALS) },
  { weight: 3, arbitrary: fc.constantFrom("{cn}", "x{cn}", "{cn}y", "{cn}{cn}", "{cn}-{cn}") },
  { weight: 3, arbitrary: fc.constantFrom("+", "#") },
  { weight: 1, arbitrary: fc.constantFrom(...BROKEN) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 3 }) },
);
const templateArb = fc.array(templateLevelArb, { minLength: 1, maxLength: 5 }).map((levels) => levels.join("/"));
const templatesArb = fc.array(templateArb, { maxLength: 4 });

/** Topic or filter levels built around a given CN, so that matches are frequent, not accidental. */
function topicArbFor(cn: string) {
  const level = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...LITERALS, cn, `x${cn}`, `${cn}y`, `${cn}${cn}`, `${cn}-${cn}`) },
    { weight: 2, arbitrary: fc.constantFrom("+", "#", "x{cn}") },
    { weight: 1, arbitrary: fc.constantFrom(...BROKEN) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 3 }) },
  );
  return fc.oneof(
    { weight: 5, arbitrary: fc.array(level, { minLength: 1, maxLength: 6 }).map((levels) => levels.join("/")) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 12 }) },
  );
}

function expectSameAsReference(acl: Acl, topics: readonly string[]): void {
  for (const topic of topics) {
    for (const action of ["publish", "subscribe"] as const) {
      expect(acl.check(action, topic)).toEqual(refCheck(acl, action, topic));
    }
    expect(acl.mayPublish(topic)).toBe(refCheck(acl, "publish", topic).allowed);
    expect(acl.canReceive(topic)).toBe(refCanReceive(acl, topic));
  }
}

const RUNS = { numRuns: 3000 };

describe("compiled ACL ≡ the uncached algorithm", () => {
  it("gives the same verdicts for ACLs derived from random templates and CNs", () => {
    const caseArb = cnArb.chain((cn) =>
      fc.record({
        cn: fc.constant(cn),
        publish: templatesArb,
        subscribe: templatesArb,
        role: fc.constantFrom("device", "service", "constructor", "other"),
        topics: fc.array(topicArbFor(cn), { minLength: 1, maxLength: 8 }),
      }),
    );
    fc.assert(
      fc.property(caseArb, ({ cn, publish, subscribe, role, topics }) => {
        const config: AclConfig = {
          device: { publish, subscribe },
          service: { publish: subscribe, subscribe: publish },
        };
        let acl: Acl;
        try {
          acl = deriveAcl(config, role, cn);
        } catch {
          return; // a refused CN or template: nothing to compare (deriveAcl's own tests cover the refusal)
        }
        expectSameAsReference(acl, topics);
      }),
      RUNS,
    );
  });

  it("gives the same verdicts for rules built by hand, invalid ones included", () => {
    const caseArb = cnArb.chain((cn) =>
      fc.record({
        cn: fc.constant(cn),
        publish: fc.array(topicArbFor(cn), { maxLength: 4 }),
        subscribe: fc.array(topicArbFor(cn), { maxLength: 4 }),
        unknownRole: fc.boolean(),
        topics: fc.array(topicArbFor(cn), { minLength: 1, maxLength: 8 }),
      }),
    );
    fc.assert(
      fc.property(caseArb, ({ cn, publish, subscribe, unknownRole, topics }) => {
        const templates = { publish: publish.map((rule) => rule.split(cn).join("{cn}")), subscribe };
        expectSameAsReference(new Acl("device", cn, publish, subscribe, unknownRole, templates), topics);
        expectSameAsReference(new Acl("device", cn, publish, subscribe, unknownRole), [...publish, ...subscribe]);
      }),
      RUNS,
    );
  });

  it("validates names and filters exactly as the code-point walk did (surrogates, U+0000, length)", () => {
    const textArb = fc.oneof(
      fc.string({ unit: "binary", maxLength: 16 }),
      fc.string({ unit: "grapheme", maxLength: 16 }),
      fc.constantFrom("🚀".repeat(16_384), "🚀".repeat(16_383) + "abcd", "é".repeat(32_768), "a".repeat(65_535)),
      fc.constantFrom(
        "\ud83d",
        "\ude80",
        "\ude80\ud83d",
        "a\ud83d",
        "\ud83d\ud83d\ude80",
        "\ud83d\ue000",
        "\udbff\uffff",
      ),
    );
    fc.assert(
      fc.property(textArb, (text) => {
        expect(validateTopicName(text)).toBe(refValidateName(text));
        expect(validateTopicFilter(text)).toBe(refValidateFilter(text));
      }),
      RUNS,
    );
  });
});
