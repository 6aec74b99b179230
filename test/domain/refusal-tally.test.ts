import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { OVERFLOW_ADDRESS, RefusalTally, type Refusal } from "../../src/domain/refusal-tally.js";

const refusal = (address: string, url = "/v1/devices", code = "operator_certificate_required"): Refusal => ({
  action: "admin.auth_failed",
  address,
  code,
  url,
  detail: "no client certificate",
});

describe("RefusalTally", () => {
  it("records the first refusal of an address at once, counts the rest, summarizes them when the interval ends", () => {
    const tally = new RefusalTally(1000);
    expect(tally.note(refusal("10.0.0.1", "/a"), 0)).toBe("record");
    expect(tally.note(refusal("10.0.0.1", "/b"), 10)).toBe("counted");
    expect(tally.note(refusal("10.0.0.1", "/c", "rate_limited"), 20)).toBe("counted");
    expect(tally.note(refusal("10.0.0.2"), 30)).toBe("record"); // another address has its own window
    expect(tally.due(999)).toEqual([]);
    expect(tally.due(1000)).toEqual([
      {
        action: "admin.auth_failed",
        address: "10.0.0.1",
        count: 2,
        codes: { operator_certificate_required: 1, rate_limited: 1 },
        firstUrl: "/b",
        lastUrl: "/c",
        lastDetail: "no client certificate",
        since: 10,
        until: 20,
      },
    ]);
    // 10.0.0.2's window had nothing held: closed without a summary; the next refusal is recorded again.
    expect(tally.due(1030)).toEqual([]);
    expect(tally.openWindows).toBe(0);
    expect(tally.note(refusal("10.0.0.1"), 1100)).toBe("record");
  });

  it("keys by action too: an auth failure and a router refusal of one address are separate windows", () => {
    const tally = new RefusalTally(1000);
    expect(tally.note(refusal("10.0.0.1"), 0)).toBe("record");
    expect(tally.note({ ...refusal("10.0.0.1"), action: "admin.request_refused" }, 0)).toBe("record");
  });

  it("holds at most maxKeys windows; further addresses share the overflow window", () => {
    const tally = new RefusalTally(1000, 3);
    for (const address of ["a", "b", "c"]) expect(tally.note(refusal(address), 0)).toBe("record");
    expect(tally.note(refusal("d"), 1)).toBe("record"); // opens the overflow window…
    expect(tally.note(refusal("e"), 2)).toBe("counted"); // … which every further address shares
    expect(tally.note(refusal("f"), 3)).toBe("counted");
    expect(tally.openWindows).toBe(4);
    expect(tally.drain()).toEqual([expect.objectContaining({ address: OVERFLOW_ADDRESS, count: 2 })]);
    expect(tally.openWindows).toBe(0);
  });

  it("property: recorded refusals plus summary counts add up to every refusal, windows stay bounded", () => {
    const events = fc.array(
      fc.record({ address: fc.constantFrom("a", "b", "c", "d", "e"), dt: fc.integer({ min: 0, max: 400 }) }),
      { maxLength: 300 },
    );
    fc.assert(
      fc.property(events, fc.boolean(), (list, tick) => {
        const tally = new RefusalTally(1000, 3);
        let now = 0;
        let accounted = 0;
        for (const { address, dt } of list) {
          now += dt;
          if (tick) accounted += tally.due(now).reduce((sum, s) => sum + s.count, 0);
          if (tally.note(refusal(address), now) === "record") accounted += 1;
          expect(tally.openWindows).toBeLessThanOrEqual(4); // 3 keys + the overflow window
        }
        accounted += tally.drain().reduce((sum, s) => sum + s.count, 0);
        expect(accounted).toBe(list.length);
      }),
    );
  });
});
