import { describe, expect, it } from "vitest";
import { KeyedTokenBucket } from "../../src/domain/token-bucket.js";

const T0 = 1_000_000;

function takeAll(bucket: KeyedTokenBucket, key: string, now: number, attempts: number): boolean[] {
  return Array.from({ length: attempts }, () => bucket.take(key, now));
}

describe("KeyedTokenBucket", () => {
  it("allows a burst, then refuses", () => {
    const bucket = new KeyedTokenBucket({ perSecond: 1, burst: 3 });
    expect(takeAll(bucket, "a", T0, 5)).toEqual([true, true, true, false, false]);
  });

  it("refills at perSecond, capped at burst", () => {
    const bucket = new KeyedTokenBucket({ perSecond: 2, burst: 3 });
    takeAll(bucket, "a", T0, 3);
    expect(bucket.take("a", T0 + 499)).toBe(false);
    expect(bucket.take("a", T0 + 500)).toBe(true); // 0.5 s at 2/s is one token (elapsed since the refused take counts)
    expect(bucket.take("a", T0 + 500)).toBe(false);
    // A long idle period refills to the burst, no further.
    expect(takeAll(bucket, "a", T0 + 3_600_000, 5)).toEqual([true, true, true, false, false]);
  });

  it("keeps keys independent", () => {
    const bucket = new KeyedTokenBucket({ perSecond: 1, burst: 1 });
    expect(bucket.take("a", T0)).toBe(true);
    expect(bucket.take("a", T0)).toBe(false);
    expect(bucket.take("b", T0)).toBe(true);
    expect(bucket.size).toBe(2);
  });

  it("charges a cost and refuses a cost it cannot cover without taking anything", () => {
    const bucket = new KeyedTokenBucket({ perSecond: 1, burst: 5 });
    expect(bucket.take("a", T0, 4)).toBe(true);
    expect(bucket.take("a", T0, 2)).toBe(false);
    expect(bucket.take("a", T0, 1)).toBe(true);
    expect(bucket.take("a", T0, 1)).toBe(false);
  });

  it("gains nothing when the clock goes backwards", () => {
    const bucket = new KeyedTokenBucket({ perSecond: 1, burst: 2 });
    takeAll(bucket, "a", T0, 2);
    expect(bucket.take("a", T0 - 60_000)).toBe(false);
    expect(bucket.take("a", T0 - 59_000)).toBe(true);
  });

  it("says how long until one token is back (Retry-After), at least 1 s", () => {
    const slow = new KeyedTokenBucket({ perSecond: 0.1, burst: 1 });
    slow.take("a", T0);
    expect(slow.retryAfterSeconds("a", T0)).toBe(10);
    expect(slow.retryAfterSeconds("a", T0 + 5_000)).toBe(5);
    const fast = new KeyedTokenBucket({ perSecond: 100, burst: 1 });
    fast.take("a", T0);
    expect(fast.retryAfterSeconds("a", T0)).toBe(1);
    expect(fast.retryAfterSeconds("fresh", T0)).toBe(1);
  });

  it("forgets a key on request", () => {
    const bucket = new KeyedTokenBucket({ perSecond: 1, burst: 1 });
    bucket.take("a", T0);
    bucket.forget("a");
    expect(bucket.size).toBe(0);
    expect(bucket.take("a", T0)).toBe(true);
  });

  it("caps the number of keys, forgetting the least recently used", () => {
    const bucket = new KeyedTokenBucket({ perSecond: 1, burst: 1 }, 3);
    for (const key of ["a", "b", "c"]) bucket.take(key, T0);
    bucket.take("a", T0 + 1); // touch a: b is now the oldest
    bucket.take("d", T0 + 2);
    expect(bucket.size).toBe(3);
    // b was evicted, so it starts over with a full bucket; a kept its (empty) state.
    expect(bucket.take("b", T0 + 3)).toBe(true);
    expect(bucket.take("a", T0 + 3)).toBe(false);
  });

  it("cannot be pushed past maxKeys by a flood of distinct keys", () => {
    const bucket = new KeyedTokenBucket({ perSecond: 1, burst: 1 }, 100);
    for (let i = 0; i < 10_000; i += 1) bucket.take(`k${i}`, T0);
    expect(bucket.size).toBe(100);
  });
});
