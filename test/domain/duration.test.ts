import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "../../src/domain/duration.js";

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

describe("parseDuration", () => {
  it.each<[string, number]>([
    ["90d", 90 * D],
    ["24h", 24 * H],
    ["15m", 15 * M],
    ["30s", 30 * S],
    ["500ms", 500],
    ["1500", 1500],
    ["1.5h", 90 * M],
    ["0.5s", 500],
    [" 10s ", 10 * S],
    ["1ms", 1],
  ])("%j is %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    "",
    "0",
    "0s",
    "0.0d",
    "-5s",
    "5 s",
    "5S",
    "5sec",
    "1e3",
    "1w",
    "s",
    "1.s",
    ".5s",
    "5s5",
    "0.4ms",
    "Infinity",
    "99999999999999999999d",
  ])("refuses %j", (text) => {
    expect(parseDuration(text)).toBeNull();
  });

  it("never returns a non-positive or non-integer number of milliseconds (property)", () => {
    const unit = fc.constantFrom("", "ms", "s", "m", "h", "d");
    const text = fc
      .tuple(fc.nat({ max: 100_000 }), fc.option(fc.nat({ max: 9999 })), unit)
      .map(([whole, fraction, u]) => `${whole}${fraction === null ? "" : `.${fraction}`}${u}`);
    fc.assert(
      fc.property(text, (candidate) => {
        const ms = parseDuration(candidate);
        return ms === null || (Number.isSafeInteger(ms) && ms > 0);
      }),
    );
  });
});

describe("formatDuration", () => {
  it.each<[number, string]>([
    [90 * D, "90d"],
    [D, "1d"],
    [36 * H, "36h"],
    [H, "1h"],
    [90 * S, "90s"],
    [15 * M, "15m"],
    [1500, "1500ms"],
    [1, "1ms"],
  ])("%d ms is %j", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it("round-trips through parseDuration (property)", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 10_000 * D }), (ms) => parseDuration(formatDuration(ms)) === ms));
  });
});
