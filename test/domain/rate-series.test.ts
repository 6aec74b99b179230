import { describe, expect, it } from "vitest";
import { RateSeries } from "../../src/domain/rate-series.js";

describe("RateSeries", () => {
  it("turns sampled totals into per-second rates; the first sample is only the baseline", () => {
    const series = new RateSeries(["a", "b"] as const, 60_000, 5_000);
    series.sample(0, { a: 0, b: 10 });
    expect(series.points(0)).toEqual([]);
    series.sample(5_000, { a: 50, b: 10 });
    series.sample(10_000, { a: 60, b: 35 });
    expect(series.points(10_000)).toEqual([
      { at: 5_000, rates: { a: 10, b: 0 } },
      { at: 10_000, rates: { a: 2, b: 5 } },
    ]);
  });

  it("keeps only the window, in fixed memory, oldest first", () => {
    const series = new RateSeries(["n"] as const, 20_000, 5_000);
    for (let i = 0; i <= 20; i++) series.sample(i * 5_000, { n: i * 5 });
    const points = series.points(100_000);
    expect(points.map((p) => p.at)).toEqual([85_000, 90_000, 95_000, 100_000]);
    expect(points.every((p) => p.rates.n === 1)).toBe(true);
    expect(series.points(200_000)).toEqual([]);
  });

  it("a counter that went down (a restart) is no activity, never a negative rate", () => {
    const series = new RateSeries(["n"] as const);
    series.sample(0, { n: 100 });
    series.sample(5_000, { n: 3 });
    expect(series.points(5_000)[0]!.rates.n).toBe(0);
  });

  it("refuses a step that cannot fill a window", () => {
    expect(() => new RateSeries(["n"] as const, 1_000, 5_000)).toThrow(RangeError);
    expect(() => new RateSeries(["n"] as const, 1_000, 0)).toThrow(RangeError);
  });
});
