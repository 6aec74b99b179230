import { describe, expect, it } from "vitest";
import { backoffDelay, RetryBudget } from "../../device-sim/backoff.js";
import { Outbox } from "../../device-sim/outbox.js";
import { bootOffsetMs, deviceIds, pickRandom } from "../../device-sim/scenario.js";
import { DEFAULT_RETRY } from "../../device-sim/types.js";

describe("Outbox", () => {
  const fill = (outbox: Outbox, n: number) => {
    for (let i = 0; i < n; i++) outbox.add((seq) => `m${seq}`);
  };

  it("numbers readings from 1 and keeps at most `window` in flight", () => {
    const outbox = new Outbox();
    fill(outbox, 3);
    expect(outbox.next(2)?.seq).toBe(1);
    expect(outbox.next(2)?.seq).toBe(2);
    expect(outbox.next(2)).toBeNull();
    outbox.ack(1);
    expect(outbox.next(2)?.seq).toBe(3);
  });

  it("sends unacknowledged messages again, first and in order, after the connection drops", () => {
    const outbox = new Outbox();
    fill(outbox, 4);
    outbox.next(10);
    outbox.next(10);
    outbox.next(10);
    outbox.ack(2);
    outbox.requeueInFlight();
    expect([outbox.next(10)?.seq, outbox.next(10)?.seq, outbox.next(10)?.seq]).toEqual([1, 3, 4]);
    expect(outbox.unacknowledged()).toEqual([1, 3, 4]);
    expect(outbox.highestSeq).toBe(4);
  });

  it("stops taking readings when full, without using a sequence number", () => {
    const outbox = new Outbox(2);
    fill(outbox, 2);
    expect(outbox.add((seq) => `m${seq}`)).toBe(false);
    outbox.ack(outbox.next(5)!.seq);
    expect(outbox.add((seq) => `m${seq}`)).toBe(true);
    expect(outbox.highestSeq).toBe(3);
  });

  it("wakes a waiter when the last in-flight message is acknowledged", async () => {
    const outbox = new Outbox();
    fill(outbox, 1);
    outbox.next(5);
    let drained = false;
    const waiting = outbox.whenInFlightEmpty().then(() => (drained = true));
    expect(drained).toBe(false);
    outbox.ack(1);
    await waiting;
    expect(drained).toBe(true);
  });
});

describe("backoff and retry budgets", () => {
  it("grows exponentially up to the cap, jittered within it", () => {
    expect(backoffDelay(DEFAULT_RETRY, 1, () => 1)).toBe(250);
    expect(backoffDelay(DEFAULT_RETRY, 3, () => 1)).toBe(1000);
    expect(backoffDelay(DEFAULT_RETRY, 30, () => 1)).toBe(DEFAULT_RETRY.maxDelayMs);
    expect(backoffDelay(DEFAULT_RETRY, 3, () => 0.5)).toBe(500);
  });

  it("gives up after the refusal budget, and a success resets it", () => {
    const budget = new RetryBudget({ ...DEFAULT_RETRY, maxRefusals: 2 }, () => 1);
    expect(budget.failed("refused", "CONNACK 5")).toEqual({ retry: true, delayMs: 250 });
    budget.succeeded();
    expect(budget.failed("refused", "CONNACK 5").retry).toBe(true);
    expect(budget.failed("refused", "CONNACK 5")).toEqual({
      retry: false,
      reason: "2 refusals in a row, last: CONNACK 5",
    });
  });

  it("honours Retry-After as a floor", () => {
    const budget = new RetryBudget(DEFAULT_RETRY, () => 0);
    expect(budget.failed("transient", "HTTP 429", 2_000)).toEqual({ retry: true, delayMs: 2_000 });
  });
});

describe("scenario helpers", () => {
  it("names devices so they sort in boot order", () => {
    expect(deviceIds("sim-", 3)).toEqual(["sim-0001", "sim-0002", "sim-0003"]);
    expect(deviceIds("s-", 12_000)[11_999]).toBe("s-12000");
  });

  it("boots a storm all at once and spreads the others over the ramp", () => {
    expect(bootOffsetMs("storm", 99, 100, 5_000)).toBe(0);
    expect(bootOffsetMs("steady", 50, 100, 5_000)).toBe(2_500);
  });

  it("picks distinct items", () => {
    const picked = pickRandom([1, 2, 3, 4, 5], 3);
    expect(new Set(picked).size).toBe(3);
    expect(pickRandom([1, 2], 5)).toHaveLength(2);
  });
});
