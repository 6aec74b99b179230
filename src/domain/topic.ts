/**
 * MQTT 3.1.1 topic names and topic filters (OASIS standard, §1.5.3 and §4.7).
 *
 * Everything here compares strings exactly as received: [MQTT-4.7.3-4] forbids normalising or
 * substituting characters before matching, and doing so would let two spellings of one topic
 * slip past an ACL that only knows one of them.
 */

const LEVEL_SEPARATOR = "/";
const MULTI_LEVEL = "#";
const SINGLE_LEVEL = "+";
/** [MQTT-4.7.3-3]: a topic is a length-prefixed UTF-8 string, so 65535 encoded bytes at most. */
export const MAX_TOPIC_BYTES = 65_535;

/**
 * Checks the rules names and filters share; null when they hold. Pairing surrogates (rather than
 * counting UTF-16 units) is what lets us see lone ones, which cannot be encoded as UTF-8 at all.
 */
function encodingProblem(text: string): string | null {
  // [MQTT-4.7.3-1]: a zero-length topic name or filter is a protocol violation.
  if (text.length === 0) return "empty";
  let bytes = 0;
  // UTF-16 units by index (no per-character strings: this runs on every PUBLISH and delivery).
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    // [MQTT-4.7.3-2] and [MQTT-1.5.3-2]: U+0000 is never allowed; C-style peers would truncate there.
    if (unit === 0) return "contains U+0000";
    if (unit < 0xd800 || unit > 0xdfff) {
      bytes += unit < 0x80 ? 1 : unit < 0x800 ? 2 : 3;
      continue;
    }
    // A high surrogate followed by a low one is one code point beyond U+FFFF (4 UTF-8 bytes).
    const next = unit <= 0xdbff && i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
    // [MQTT-1.5.3-1]: surrogate code points are not well-formed UTF-8.
    if (next < 0xdc00 || next > 0xdfff) return "contains a lone UTF-16 surrogate";
    bytes += 4;
    i += 1;
  }
  if (bytes > MAX_TOPIC_BYTES) return `longer than ${MAX_TOPIC_BYTES} UTF-8 bytes`;
  return null;
}

/** Why `topic` may not be used in a PUBLISH, or null when it may. */
export function validateTopicName(topic: string): string | null {
  const problem = encodingProblem(topic);
  if (problem !== null) return problem;
  // [MQTT-4.7.1-1]: wildcards are for filters only; a published name containing one is refused
  // rather than treated as a literal so that no subscriber ever sees an ambiguous name.
  if (topic.includes(SINGLE_LEVEL) || topic.includes(MULTI_LEVEL)) return "contains a wildcard (+ or #)";
  return null;
}

/** Why `filter` may not be used in a SUBSCRIBE (or an ACL rule), or null when it may. */
export function validateTopicFilter(filter: string): string | null {
  const problem = encodingProblem(filter);
  if (problem !== null) return problem;
  const levels = filter.split(LEVEL_SEPARATOR);
  for (const [index, level] of levels.entries()) {
    if (level === MULTI_LEVEL) {
      // [MQTT-4.7.1-2]: '#' stands alone in the last level ("a/#", "#"), never "a/#/b".
      if (index !== levels.length - 1) return "'#' is not the last level";
    } else if (level.includes(MULTI_LEVEL)) {
      return "'#' does not occupy a whole level";
    } else if (level !== SINGLE_LEVEL && level.includes(SINGLE_LEVEL)) {
      // [MQTT-4.7.1-3]: '+' must occupy an entire level ("a/+/b", never "a/b+").
      return "'+' does not occupy a whole level";
    }
  }
  return null;
}

function isWildcard(level: string | undefined): boolean {
  return level === SINGLE_LEVEL || level === MULTI_LEVEL;
}

/**
 * [MQTT-4.7.2-1]: a filter whose first level is a wildcard never matches a name beginning with
 * '$' (server-internal topics such as $SYS). A filter whose first level is a literal needs no
 * special casing: the literal itself decides whether it starts with '$'.
 */
function dollarBarrier(topic: string, filterLevels: readonly string[]): boolean {
  return topic.startsWith("$") && isWildcard(filterLevels[0]);
}

/**
 * Whether a PUBLISH to `topic` is delivered to a subscription on `filter`. Invalid input never
 * matches: an ACL built on this must fail closed, not guess what a malformed string meant.
 */
export function topicMatchesFilter(topic: string, filter: string): boolean {
  if (validateTopicName(topic) !== null || validateTopicFilter(filter) !== null) return false;
  return levelsMatch(topic, splitLevels(topic), splitLevels(filter));
}

/** A topic or filter cut at its separators, once, for matching it against many filters or topics. */
export function splitLevels(topicOrFilter: string): string[] {
  return topicOrFilter.split(LEVEL_SEPARATOR);
}

/**
 * The matching rule itself, on levels already split (splitLevels) of a topic name and a filter that
 * are both known to be valid; `topic` is the unsplit name, for the '$' rule. Callers that check one
 * topic against several pre-split filters (the ACL, per message) use it to split and validate once.
 */
export function levelsMatch(topic: string, topicLevels: readonly string[], filterLevels: readonly string[]): boolean {
  if (dollarBarrier(topic, filterLevels)) return false;
  const count = filterLevels.length;
  for (let index = 0; index < count; index++) {
    const level = filterLevels[index];
    // '#' also matches zero further levels, so "a/#" matches "a" itself (§4.7.1.2).
    if (level === MULTI_LEVEL) return true;
    const topicLevel = topicLevels[index];
    if (topicLevel === undefined) return false;
    // '+' matches exactly one level, including an empty one ("a//b" is matched by "a/+/b").
    if (level !== SINGLE_LEVEL && level !== topicLevel) return false;
  }
  return topicLevels.length === count;
}

/** A valid filter split into its levels before a trailing '#' and whether that '#' is there. */
interface FilterShape {
  readonly fixed: readonly string[];
  readonly multi: boolean;
}

function shapeOf(filter: string): FilterShape {
  const levels = filter.split(LEVEL_SEPARATOR);
  const multi = levels[levels.length - 1] === MULTI_LEVEL;
  return { fixed: multi ? levels.slice(0, -1) : levels, multi };
}

/**
 * Fewest levels a topic matched by the filter can have. '#' may match zero levels, but a topic name
 * is never the empty string [MQTT-4.7.3-1]: "#" alone needs one level, and "/#" cannot stop at its
 * one empty level (that would be the topic "") so its shortest topic is "/" with two levels.
 */
function fewestLevels(shape: FilterShape): number {
  if (!shape.multi) return shape.fixed.length;
  if (shape.fixed.length === 0) return 1;
  if (shape.fixed.length === 1 && shape.fixed[0] === "") return 2;
  return shape.fixed.length;
}

/**
 * Set inclusion between the languages of two filters, ignoring the '$' rule (handled by the
 * caller). Levels are drawn from an infinite alphabet, so a wildcard on the inner side can always
 * produce a level that differs from any given literal on the outer side.
 */
function shapeCovered(inner: FilterShape, outer: FilterShape): boolean {
  const innerMinLength = fewestLevels(inner);
  if (outer.multi) {
    // Outer accepts any length >= its fixed prefix; inner's shortest topic must reach that far.
    if (innerMinLength < outer.fixed.length) return false;
  } else if (inner.multi || inner.fixed.length !== outer.fixed.length) {
    // Outer accepts exactly one length; inner must produce only that length.
    return false;
  }
  for (const [index, outerLevel] of outer.fixed.entries()) {
    if (outerLevel === SINGLE_LEVEL) continue; // accepts whatever inner puts at this level
    // A level inside inner's trailing '#' is arbitrary, just like '+': neither fits a literal.
    const innerLevel = inner.fixed[index] ?? MULTI_LEVEL;
    if (innerLevel !== outerLevel) return false;
  }
  return true;
}

/**
 * True iff every topic name `inner` can match is also matched by `outer`: granting a SUBSCRIBE on
 * `inner` then leaks nothing that `outer` would not. Not a prefix test: "devices/+/x" is not
 * inside "devices/dev-1/x" although it is the same length, and "a" is inside "a/#".
 * Invalid filters are never covered (fail closed).
 *
 * Length limits are ignored; they only shrink inner's language, so the answer can only be
 * "false" where a length-aware check might say "true", never the other way round.
 */
export function filterCoveredBy(inner: string, outer: string): boolean {
  if (validateTopicFilter(inner) !== null || validateTopicFilter(outer) !== null) return false;
  const innerShape = shapeOf(inner);
  const outerShape = shapeOf(outer);
  // [MQTT-4.7.2-1] on both sides: an inner filter starting with a literal '$' level only matches
  // '$' topics, which an outer filter starting with a wildcard never matches. The converse needs
  // no rule: an inner filter starting with a wildcard matches no '$' topics, and an outer literal
  // first level is compared as usual by shapeCovered.
  const innerFirst = innerShape.fixed[0];
  const innerIsDollar = innerFirst !== undefined && innerFirst.startsWith("$");
  if (innerIsDollar && isWildcard(outer.split(LEVEL_SEPARATOR)[0])) return false;
  return shapeCovered(innerShape, outerShape);
}
