/**
 * An ACL's rules compiled for matching many topics: split into levels once per session, with the
 * topic split once per check. The matching rule itself stays in topic.ts (levelsMatch); the
 * equivalence with the per-call algorithm is a property test (test/domain/acl-compiled.test.ts).
 */
import { levelsMatch, splitLevels, validateTopicFilter } from "./topic.js";

/** Each rule's levels (null: not a valid filter), index for index with the rule strings. */
export type CompiledRules = readonly (readonly string[] | null)[];

/**
 * The levels of a concrete rule, split once per session instead of once per message. Literal levels
 * are the template's own strings (shared by every session of the role, see templateLevels) and a
 * level that is exactly `{cn}` is the CN string the session holds anyway, so a connection pays for
 * the arrays only.
 */
function ruleLevels(rule: string, template: string | undefined, cn: string): readonly string[] {
  const levels = splitLevels(rule);
  const shared = template === undefined ? undefined : templateLevels(template);
  if (shared === undefined || shared.length !== levels.length) return Object.freeze(levels);
  return Object.freeze(levels.map((level, i) => (shared[i] === level ? shared[i] : level === cn ? cn : level)));
}

/** Split templates, by template string: a config holds a handful, so the bound is never reached in practice. */
const splitTemplates = new Map<string, readonly string[]>();
const MAX_SPLIT_TEMPLATES = 1024;

function templateLevels(template: string): readonly string[] {
  let levels = splitTemplates.get(template);
  if (levels === undefined) {
    levels = Object.freeze(splitLevels(template));
    if (splitTemplates.size < MAX_SPLIT_TEMPLATES) splitTemplates.set(template, levels);
  }
  return levels;
}

/** A rule that is not a valid filter compiles to null and matches nothing, as topicMatchesFilter would say. */
export function compileRules(
  rules: readonly string[],
  templates: readonly string[] | undefined,
  cn: string,
): CompiledRules {
  return Object.freeze(
    rules.map((rule, i) => (validateTopicFilter(rule) === null ? ruleLevels(rule, templates?.[i], cn) : null)),
  );
}

/** Index of the first rule matching a valid topic name, or -1; the topic is split once for all rules. */
export function matchingRule(rules: CompiledRules, topic: string): number {
  if (rules.length === 0) return -1;
  const topicLevels = splitLevels(topic);
  for (let index = 0; index < rules.length; index++) {
    const levels = rules[index];
    if (levels && levelsMatch(topic, topicLevels, levels)) return index;
  }
  return -1;
}
