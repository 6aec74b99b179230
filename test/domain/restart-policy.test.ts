import { describe, expect, it } from "vitest";
import {
  afterCrash,
  backoffDelay,
  DEFAULT_RESTART_POLICY,
  type RestartDecision,
  type RestartPolicy,
} from "../../src/domain/restart-policy.js";

const POLICY: RestartPolicy = { initialDelayMs: 100, maxDelayMs: 1000, maxCrashes: 6, windowMs: 60_000 };
const T0 = 1_000_000;

/** Crashes at the given times, each fed the history the previous one returned. */
function crashesAt(times: readonly number[], policy = POLICY): RestartDecision[] {
  let history: readonly number[] = [];
  return times.map((now) => {
    const outcome = afterCrash(history, now, true, policy);
    history = outcome.history;
    return outcome.decision;
  });
}

describe("worker restart policy", () => {
  it("doubles the delay with each crash in the window, up to the cap", () => {
    const decisions = crashesAt([0, 1, 2, 3, 4].map((i) => T0 + i * 1000));
    expect(decisions.map((d) => (d.action === "restart" ? d.delayMs : d.action))).toEqual([100, 200, 400, 800, 1000]);
    expect(backoffDelay(1, POLICY)).toBe(100);
    expect(backoffDelay(40, POLICY)).toBe(1000);
    expect(backoffDelay(5000, POLICY)).toBe(1000); // 2^4999 is Infinity: still the cap
  });

  it("gives up at the maxCrashes-th crash inside the window", () => {
    const decisions = crashesAt([0, 1, 2, 3, 4, 5].map((i) => T0 + i * 1000));
    expect(decisions.slice(0, 5).every((d) => d.action === "restart")).toBe(true);
    expect(decisions[5]).toEqual({ action: "give-up", reason: "crash loop", crashesInWindow: 6 });
  });

  it("forgets crashes older than the window: an occasional crash restarts at the initial delay", () => {
    const decisions = crashesAt([0, 1, 2, 3, 4].map((i) => T0 + i * 61_000));
    expect(decisions).toEqual(
      Array.from({ length: 5 }, () => ({ action: "restart", delayMs: 100, crashesInWindow: 1 })),
    );
    const outcome = afterCrash([T0, T0 + 30_000], T0 + 70_000, true, POLICY);
    expect(outcome.history).toEqual([T0 + 30_000, T0 + 70_000]);
    expect(outcome.decision).toEqual({ action: "restart", delayMs: 200, crashesInWindow: 2 });
  });

  it("does not restart a slot whose first worker died before it was ever ready", () => {
    expect(afterCrash([], T0, false, POLICY).decision).toEqual({
      action: "give-up",
      reason: "start-up failure",
      crashesInWindow: 1,
    });
  });

  it("has defaults that restart at once, back off to 15 s and give up after 10 crashes in 10 minutes", () => {
    const minutes = (m: number) => T0 + m * 60_000;
    const decisions = crashesAt(
      Array.from({ length: 10 }, (_, i) => minutes(i)),
      DEFAULT_RESTART_POLICY,
    );
    expect(decisions.map((d) => (d.action === "restart" ? d.delayMs : d.action))).toEqual([
      500,
      1000,
      2000,
      4000,
      8000,
      15_000,
      15_000,
      15_000,
      15_000,
      "give-up",
    ]);
  });
});
