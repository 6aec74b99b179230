import { describe, expect, it } from "vitest";
import { checkSequence } from "../../device-sim/sequence-check.js";
import { distribution, percentile, ratePerSecond } from "../../device-sim/stats.js";

describe("checkSequence", () => {
  it("counts nothing wrong for 1..n delivered once in order", () => {
    expect(checkSequence({ lastSeq: 5, unacked: [] }, [1, 2, 3, 4, 5])).toEqual({
      expected: 5,
      received: 5,
      lost: 0,
      duplicated: 0,
      outOfOrder: 0,
      unacknowledgedDelivered: 0,
    });
  });

  it("counts acknowledged numbers that never arrived as lost", () => {
    expect(checkSequence({ lastSeq: 6, unacked: [] }, [1, 2, 5, 6])).toMatchObject({
      expected: 6,
      lost: 2,
      duplicated: 0,
      outOfOrder: 0,
    });
  });

  it("does not count unacknowledged numbers as lost", () => {
    expect(checkSequence({ lastSeq: 6, unacked: [5, 6] }, [1, 2, 3, 4])).toMatchObject({ expected: 4, lost: 0 });
  });

  it("counts a second delivery of a number as a duplicate, not as out of order", () => {
    expect(checkSequence({ lastSeq: 4, unacked: [] }, [1, 2, 3, 2, 3, 4])).toMatchObject({
      received: 6,
      lost: 0,
      duplicated: 2,
      outOfOrder: 0,
    });
  });

  it("counts a first delivery below the highest so far as out of order", () => {
    expect(checkSequence({ lastSeq: 5, unacked: [] }, [1, 3, 2, 5, 4])).toMatchObject({
      lost: 0,
      duplicated: 0,
      outOfOrder: 2,
    });
  });

  it("notes deliveries whose PUBACK the device never saw", () => {
    expect(checkSequence({ lastSeq: 3, unacked: [3] }, [1, 2, 3])).toMatchObject({
      expected: 2,
      lost: 0,
      unacknowledgedDelivered: 1,
    });
  });

  it("handles a device that sent nothing", () => {
    expect(checkSequence({ lastSeq: 0, unacked: [] }, [])).toMatchObject({ expected: 0, received: 0, lost: 0 });
  });
});

describe("percentiles", () => {
  const values = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100

  it("uses the nearest rank", () => {
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it("sorts before taking the distribution and is null when empty", () => {
    expect(distribution([30, 10, 20])).toEqual({ count: 3, p50: 20, p99: 30, max: 30 });
    expect(distribution([])).toBeNull();
  });

  it("computes a rate without dividing by zero", () => {
    expect(ratePerSecond(10, 0, 2_000)).toBe(5);
    expect(ratePerSecond(3, 100, 100)).toBe(3000);
    expect(ratePerSecond(0, 0, 0)).toBe(0);
  });
});
