import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  MAX_TOPIC_BYTES,
  filterCoveredBy,
  topicMatchesFilter,
  validateTopicFilter,
  validateTopicName,
} from "../../src/domain/topic.js";

// ---------------------------------------------------------------------------------------------
// Independent reference model. Written differently on purpose (recursive, over level arrays) so
// that a shared misunderstanding is less likely than with a copy of the production loop.
// ---------------------------------------------------------------------------------------------

function refMatchLevels(topic: readonly string[], filter: readonly string[]): boolean {
  if (filter.length === 0) return topic.length === 0;
  const [head, ...rest] = filter;
  if (head === "#") return true; // zero or more remaining levels
  if (topic.length === 0) return false;
  const [topicHead, ...topicRest] = topic;
  return (head === "+" || head === topicHead) && refMatchLevels(topicRest, rest);
}

function refMatch(topic: string, filter: string): boolean {
  const filterLevels = filter.split("/");
  const firstIsWildcard = filterLevels[0] === "+" || filterLevels[0] === "#";
  if (topic.startsWith("$") && firstIsWildcard) return false;
  return refMatchLevels(topic.split("/"), filterLevels);
}

function refNameValid(topic: string): boolean {
  return topic !== "" && !topic.includes("+") && !topic.includes("#") && !topic.includes("\u0000");
}

function refFilterValid(filter: string): boolean {
  if (filter === "" || filter.includes("\u0000")) return false;
  const levels = filter.split("/");
  return levels.every((level, i) => {
    if (level === "#") return i === levels.length - 1;
    if (level === "+") return true;
    return !level.includes("+") && !level.includes("#");
  });
}

/** Every sequence of 1..maxDepth levels over `alphabet`, joined; "" is not a topic name. */
function enumerateTopics(alphabet: readonly string[], maxDepth: number): string[] {
  const out: string[] = [];
  let layer: string[][] = [[]];
  for (let depth = 1; depth <= maxDepth; depth++) {
    layer = layer.flatMap((prefix) => alphabet.map((level) => [...prefix, level]));
    out.push(...layer.map((levels) => levels.join("/")));
  }
  return out.filter((topic) => topic !== "");
}

/** Every valid filter of 1..maxDepth levels: literal/`+` levels, optionally ending with `#`. */
function enumerateFilters(levelAlphabet: readonly string[], maxDepth: number): string[] {
  const out: string[] = [];
  let layer: string[][] = [[]]; // all level sequences of length depth-1
  for (let depth = 1; depth <= maxDepth; depth++) {
    out.push(...layer.map((prefix) => [...prefix, "#"].join("/")));
    layer = layer.flatMap((prefix) => levelAlphabet.map((level) => [...prefix, level]));
    out.push(...layer.map((levels) => levels.join("/")));
  }
  return out.filter((filter) => filter !== "");
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

describe("validateTopicName", () => {
  it.each(["a", "a/b", "/", "a//b", "/a", "a/", "$SYS/broker/load", "devices/dev-1/telemetry", "ünïcødé/🚀", " "])(
    "accepts %j",
    (topic) => expect(validateTopicName(topic)).toBeNull(),
  );

  it.each([
    ["", /empty/], // [MQTT-4.7.3-1]
    ["a/+", /wildcard/], // [MQTT-4.7.1-1]
    ["a/#", /wildcard/],
    ["+", /wildcard/],
    ["a+b", /wildcard/],
    ["a#", /wildcard/],
    ["a\u0000b", /U\+0000/], // [MQTT-4.7.3-2]
    ["a/\uD800", /surrogate/], // [MQTT-1.5.3-1]
    ["\uDC00", /surrogate/],
  ])("rejects %j", (topic, reason) => expect(validateTopicName(topic)).toMatch(reason));

  it("limits the UTF-8 encoded length to 65535 bytes, not the UTF-16 length [MQTT-4.7.3-3]", () => {
    expect(MAX_TOPIC_BYTES).toBe(65_535);
    expect(validateTopicName("a".repeat(65_535))).toBeNull();
    expect(validateTopicName("a".repeat(65_536))).toMatch(/65535/);
    expect(validateTopicName("é".repeat(32_767) + "a")).toBeNull(); // 65535 bytes
    expect(validateTopicName("é".repeat(32_768))).toMatch(/65535/); // 65536 bytes, 32768 UTF-16 units
    expect(validateTopicName("€".repeat(21_845))).toBeNull(); // 3 bytes each: 65535
    expect(validateTopicName("€".repeat(21_845) + "a")).toMatch(/65535/);
    expect(validateTopicName("🚀".repeat(16_383) + "abc")).toBeNull(); // 4 bytes each: 65532 + 3
    expect(validateTopicName("🚀".repeat(16_384))).toMatch(/65535/);
  });

  it("agrees with the reference on strings over a hostile alphabet", () => {
    const unit = fc.constantFrom("a", "/", "+", "#", "\u0000", "$", "é", " ");
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 8 }), (topic) => {
        expect(validateTopicName(topic) === null).toBe(refNameValid(topic));
      }),
      { seed: 42, numRuns: 3000 },
    );
  });
});

describe("validateTopicFilter", () => {
  it.each(["#", "+", "a", "a/#", "a/+", "+/+", "+/#", "/#", "a//+", "/", "$SYS/#", "a/+/b/#", "+/a/+"])(
    "accepts %j",
    (filter) => expect(validateTopicFilter(filter)).toBeNull(),
  );

  it.each([
    ["", /empty/], // [MQTT-4.7.3-1]
    ["a/#/b", /last level/], // [MQTT-4.7.1-2]
    ["#/a", /last level/],
    ["#/#", /last level/],
    ["a#", /whole level/],
    ["a/b#", /whole level/],
    ["##", /whole level/],
    ["a+", /whole level/], // [MQTT-4.7.1-3]
    ["a/+b", /whole level/],
    ["++", /whole level/],
    ["+#", /whole level/],
    ["a/\u0000", /U\+0000/], // [MQTT-4.7.3-2]
    ["\uD800/#", /surrogate/],
  ])("rejects %j", (filter, reason) => expect(validateTopicFilter(filter)).toMatch(reason));

  it("limits the UTF-8 encoded length to 65535 bytes [MQTT-4.7.3-3]", () => {
    expect(validateTopicFilter("a".repeat(65_533) + "/#")).toBeNull();
    expect(validateTopicFilter("é".repeat(32_767) + "/#")).toMatch(/65535/);
  });

  it("agrees with the reference on strings over a hostile alphabet", () => {
    const unit = fc.constantFrom("a", "/", "+", "#", "\u0000", "$", "é");
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 8 }), (filter) => {
        expect(validateTopicFilter(filter) === null).toBe(refFilterValid(filter));
      }),
      { seed: 42, numRuns: 3000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Matching
// ---------------------------------------------------------------------------------------------

describe("topicMatchesFilter", () => {
  it.each([
    ["a", "a"],
    ["a/b", "a/b"],
    ["a/b", "a/+"],
    ["a/b", "+/b"],
    ["a/b", "+/+"],
    ["a/b", "#"],
    ["a/b", "a/#"],
    ["a/b/c", "a/#"],
    ["a", "a/#"], // '#' also matches the parent level
    ["a/", "a/#"],
    ["a/", "a/+"], // '+' matches an empty level
    ["/a", "+/a"],
    ["a//b", "a/+/b"],
    ["/", "+/+"],
    ["/", "#"],
    ["a/b/c", "a/+/#"],
    ["a/b", "a/+/#"],
    ["$SYS/broker", "$SYS/#"],
    ["$SYS/broker", "$SYS/+"],
    ["$SYS", "$SYS/#"],
    ["$x/x", "$x/+"],
    ["devices/dev-1/telemetry", "devices/+/telemetry/#"],
  ])("%j matches %j", (topic, filter) => {
    expect(topicMatchesFilter(topic, filter)).toBe(true);
  });

  it.each([
    ["a", "b"],
    ["a", "a/b"],
    ["a/b", "a"],
    ["a/b/c", "a/+"],
    ["a", "a/+"], // '+' needs a level to exist, unlike '#'
    ["a", "+/+"],
    ["b", "a/#"],
    ["ab", "a/#"],
    ["a", "a/+/#"],
    ["A", "a"], // case-sensitive, no normalisation [MQTT-4.7.3-4]
    ["a/b ", "a/b"],
    // [MQTT-4.7.2-1]: filters starting with a wildcard never match '$' topics.
    ["$SYS/broker", "#"],
    ["$SYS/broker", "+/broker"],
    ["$SYS/broker", "+/#"],
    ["$x/x", "+/x"],
    ["$", "#"],
    ["$", "+"],
    // ...but '$' later in a topic is an ordinary character.
    ["a/$x", "b/#"],
    // Invalid input never matches: fail closed.
    ["a/+", "#"],
    ["a/#", "#"],
    ["", "#"],
    ["a", ""],
    ["a/b", "a/#/b"],
    ["ab", "a+"],
    ["a\u0000", "#"],
  ])("%j does not match %j", (topic, filter) => {
    expect(topicMatchesFilter(topic, filter)).toBe(false);
  });

  it("treats '$' later in the topic as an ordinary character", () => {
    expect(topicMatchesFilter("a/$x", "+/+")).toBe(true);
    expect(topicMatchesFilter("a/$x", "#")).toBe(true);
  });

  const LEVELS = ["a", "b", "$x", "", "dev-1"] as const;
  const topicArb = fc
    .array(fc.constantFrom(...LEVELS), { minLength: 1, maxLength: 5 })
    .map((levels) => levels.join("/"))
    .filter((topic) => topic !== "");
  const filterArb = fc
    .tuple(fc.array(fc.constantFrom(...LEVELS, "+"), { minLength: 0, maxLength: 4 }), fc.boolean())
    .map(([levels, hash]) => (hash ? [...levels, "#"] : levels).join("/"))
    .filter((filter) => filter !== "");

  it("agrees with the reference model on random topic/filter pairs", () => {
    fc.assert(
      fc.property(topicArb, filterArb, (topic, filter) => {
        expect(topicMatchesFilter(topic, filter)).toBe(refMatch(topic, filter));
      }),
      { seed: 42, numRuns: 5000 },
    );
  });

  it("agrees with the reference model on topics instantiated from the filter (mostly matches)", () => {
    // Random pairs rarely match; building the topic from the filter exercises the positive side.
    const pairArb = filterArb.chain((filter) => {
      const levels = filter.split("/");
      const parts = levels.map((level) =>
        level === "+"
          ? fc.constantFrom(...LEVELS).map((l) => [l])
          : level === "#"
            ? fc.array(fc.constantFrom(...LEVELS), { maxLength: 2 })
            : fc.constant([level]),
      );
      return fc.tuple(
        fc.constant(filter),
        fc.tuple(...parts).map((chunks) => chunks.flat().join("/")),
      );
    });
    let matched = 0;
    fc.assert(
      fc.property(pairArb, ([filter, topic]) => {
        fc.pre(topic !== "");
        const expected = refMatch(topic, filter);
        if (expected) matched++;
        expect(topicMatchesFilter(topic, filter)).toBe(expected);
      }),
      { seed: 42, numRuns: 3000 },
    );
    expect(matched).toBeGreaterThan(1000);
  });

  it("agrees with the reference model exhaustively for small topics and filters", () => {
    const topics = enumerateTopics(["a", "$x", "", "z"], 4);
    const filters = enumerateFilters(["a", "$x", "", "+"], 3);
    for (const filter of filters) {
      for (const topic of topics) {
        if (topicMatchesFilter(topic, filter) !== refMatch(topic, filter)) {
          expect.fail(`topicMatchesFilter(${JSON.stringify(topic)}, ${JSON.stringify(filter)})`);
        }
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Coverage (filter inside filter)
// ---------------------------------------------------------------------------------------------

describe("filterCoveredBy", () => {
  it.each([
    ["devices/dev-1/commands/#", "devices/+/commands/#"],
    ["devices/dev-1/commands/x", "devices/+/commands/#"],
    ["devices/dev-1/commands", "devices/dev-1/commands/#"], // parent level
    ["devices/+/telemetry", "devices/+/telemetry/#"],
    ["#", "#"],
    ["a/+", "a/#"],
    ["a/#", "a/#"],
    ["a", "a/#"],
    ["a", "a"],
    ["a/+", "a/+"],
    ["a/b", "a/+"],
    ["a/", "a/+"], // '+' covers an empty level
    ["+", "#"],
    ["+/+/#", "#"],
    ["a/b/c", "#"],
    ["#", "+/#"], // every topic has at least one level
    ["+", "+/#"],
    ["/#", "/+/#"], // "/#" cannot match the empty topic "", so every topic it matches has 2+ levels
    ["/#", "+/+/#"],
    ["a/+/c/#", "+/+/+/#"],
    ["a/b/#", "a/+/#"],
    ["$SYS/#", "$SYS/#"],
    ["$SYS/+", "$SYS/#"],
    ["$SYS", "$SYS/#"],
    ["$x/x", "$x/+"],
    ["a/$x", "+/+"], // '$' only matters in the first level
    ["a/$x/#", "#"],
  ])("%j is covered by %j", (inner, outer) => {
    expect(filterCoveredBy(inner, outer)).toBe(true);
  });

  it.each([
    ["devices/+/commands/#", "devices/dev-1/commands/#"],
    ["devices/#", "devices/dev-1/commands/#"],
    ["#", "devices/+/commands/#"],
    ["+/+/commands/#", "devices/+/commands/#"],
    ["devices/+/telemetry/#", "devices/+/telemetry"],
    ["#", "a/#"],
    ["#", "+"],
    ["#", "+/+/#"], // "a" has one level only
    ["a/#", "a/+"], // a/# matches "a" and "a/b/c"
    ["a/#", "a/+/#"], // "a"
    ["//#", "/+/+/#"], // "/" has two levels only
    ["a/#", "a"],
    ["a/#", "a/b/#"],
    ["a/+", "a/b"],
    ["a/+", "a"],
    ["a", "a/+"],
    ["a/b", "a"],
    ["a", "b"],
    ["+/x", "a/x"],
    ["+", "a"],
    ["a/+/#", "a/+"],
    // The '$' rule [MQTT-4.7.2-1]: wildcard-first filters never reach '$' topics...
    ["$SYS/#", "#"],
    ["$SYS/+", "+/+"],
    ["$SYS", "+"],
    ["$x/x", "+/x"],
    ["$SYS/broker", "+/#"],
    // ...and a '$'-literal filter only reaches '$' topics, so it cannot cover wildcard-first ones.
    ["+/x", "$x/x"],
    ["#", "$SYS/#"],
    ["+/#", "$SYS/#"],
    // Invalid filters are never covered and never cover.
    ["a/#/b", "#"],
    ["a", "a+"],
    ["", "#"],
    ["#", ""],
  ])("%j is NOT covered by %j", (inner, outer) => {
    expect(filterCoveredBy(inner, outer)).toBe(false);
  });

  // Brute force. Filters use literal levels from FILTER_LITERALS; topics additionally use the
  // fresh literal "z", which no filter mentions, so a '+' or '#' can always produce a level no
  // literal accepts. Topics go one level deeper than filters so that "a/#" (depth 2) is told
  // apart from "a/+/+" by some 3-level topic. '$x' exercises the '$' rule and "" the empty level.
  const FILTER_LITERALS = ["a", "$x", ""] as const;
  const MAX_FILTER_DEPTH = 4;
  const TOPICS = enumerateTopics([...FILTER_LITERALS, "z"], MAX_FILTER_DEPTH + 1);

  /** The set of enumerated topics a filter matches, as a bit set (bit i = TOPICS[i]). */
  const matchSetCache = new Map<string, bigint>();
  function matchSet(filter: string): bigint {
    let set = matchSetCache.get(filter);
    if (set === undefined) {
      set = TOPICS.reduce((acc, topic, i) => (refMatch(topic, filter) ? acc | (1n << BigInt(i)) : acc), 0n);
      matchSetCache.set(filter, set);
    }
    return set;
  }
  const bruteCovered = (inner: string, outer: string): boolean => (matchSet(inner) & ~matchSet(outer)) === 0n;

  const filterArb = fc
    .tuple(
      fc.array(fc.constantFrom(...FILTER_LITERALS, "+"), { minLength: 0, maxLength: MAX_FILTER_DEPTH }),
      fc.boolean(),
    )
    .map(([levels, hash]) => (hash ? [...levels.slice(0, MAX_FILTER_DEPTH - 1), "#"] : levels).join("/"))
    .filter((filter) => filter !== "");

  /** Outer filter derived from inner by widening/narrowing a few levels: many true AND false cases. */
  const relatedPairArb = filterArb.chain(
    (inner) =>
      fc
        .tuple(
          fc.array(fc.constantFrom("keep", "keep", "plus", "literal"), {
            minLength: MAX_FILTER_DEPTH,
            maxLength: MAX_FILTER_DEPTH,
          }),
          fc.integer({ min: 0, max: MAX_FILTER_DEPTH }),
          fc.constantFrom(...FILTER_LITERALS),
        )
        .map(([edits, cut, literal]) => {
          const levels = inner.split("/").map((level, i) => {
            const edit = edits[i] ?? "keep";
            if (level === "#" || edit === "keep") return level;
            return edit === "plus" ? "+" : literal;
          });
          const outer = cut < levels.length ? [...levels.slice(0, cut), "#"] : levels;
          return [inner, outer.join("/")] as const;
        })
        .filter(([, outer]) => outer !== ""), // e.g. "a" edited to "": not a filter at all
  );

  it("brute force: the topic alphabet is large enough to separate every literal from '+'", () => {
    expect(TOPICS.length).toBe(4 + 16 + 64 + 256 + 1024 - 1); // minus "" (not a topic name)
    expect(TOPICS).not.toContain("");
  });

  it("agrees with brute force on random filter pairs", () => {
    fc.assert(
      fc.property(filterArb, filterArb, (inner, outer) => {
        expect(filterCoveredBy(inner, outer)).toBe(bruteCovered(inner, outer));
      }),
      { seed: 42, numRuns: 3000 },
    );
  });

  it("agrees with brute force on related filter pairs (many covered cases)", () => {
    let covered = 0;
    let notCovered = 0;
    fc.assert(
      fc.property(relatedPairArb, ([inner, outer]) => {
        const expected = bruteCovered(inner, outer);
        if (expected) covered++;
        else notCovered++;
        expect(filterCoveredBy(inner, outer)).toBe(expected);
        // Swapping the pair is just as informative and costs nothing extra.
        expect(filterCoveredBy(outer, inner)).toBe(bruteCovered(outer, inner));
      }),
      { seed: 42, numRuns: 3000 },
    );
    expect(covered).toBeGreaterThan(500);
    expect(notCovered).toBeGreaterThan(500);
  });

  it("agrees with brute force on ALL pairs of filters up to depth 3", () => {
    const filters = enumerateFilters(["a", "$x", "", "+"], 3);
    const failures: string[] = [];
    for (const inner of filters) {
      for (const outer of filters) {
        if (filterCoveredBy(inner, outer) !== bruteCovered(inner, outer)) failures.push(`${inner} in ${outer}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it("treats a topic name as a filter consistently with topicMatchesFilter", () => {
    const topicArb = fc
      .array(fc.constantFrom(...FILTER_LITERALS, "z"), { minLength: 1, maxLength: 4 })
      .map((levels) => levels.join("/"))
      .filter((topic) => topic !== "");
    fc.assert(
      fc.property(topicArb, filterArb, (topic, outer) => {
        expect(filterCoveredBy(topic, outer)).toBe(topicMatchesFilter(topic, outer));
      }),
      { seed: 42, numRuns: 3000 },
    );
  });

  it("is reflexive and transitive", () => {
    fc.assert(
      fc.property(filterArb, filterArb, filterArb, (a, b, c) => {
        expect(filterCoveredBy(a, a)).toBe(true);
        if (filterCoveredBy(a, b) && filterCoveredBy(b, c)) expect(filterCoveredBy(a, c)).toBe(true);
      }),
      { seed: 42, numRuns: 3000 },
    );
  });
});
