import { describe, expect, it } from "vitest";
import { FD_HEADROOM, fdBudget, parseOpenFileLimit } from "../../src/domain/fd-budget.js";

const fixed = { enroll: 1000, pki: 512, admin: 64, metrics: 32 };
const FIXED = 1000 + 512 + 64 + 32 + FD_HEADROOM;

describe("file-descriptor budget", () => {
  it("keeps the MQTT cap when everything fits, or when the limit is unknown", () => {
    expect(fdBudget({ limit: 1_048_576, fixed, mqtt: 20_000 })).toEqual({
      kind: "fits",
      mqtt: 20_000,
      required: FIXED + 20_000,
    });
    expect(fdBudget({ limit: null, fixed, mqtt: 20_000 })).toMatchObject({ kind: "fits", mqtt: 20_000 });
    expect(fdBudget({ limit: FIXED + 20_000, fixed, mqtt: 20_000 })).toMatchObject({ kind: "fits" });
  });

  it("lowers the MQTT cap to what is left next to the HTTP listeners and the headroom", () => {
    expect(fdBudget({ limit: 20_000, fixed, mqtt: 20_000 })).toEqual({
      kind: "capped",
      mqtt: 20_000 - FIXED,
      required: FIXED + 20_000,
      limit: 20_000,
    });
    expect(fdBudget({ limit: FIXED + 1, fixed, mqtt: 20_000 })).toMatchObject({ kind: "capped", mqtt: 1 });
  });

  it("is impossible when not even one MQTT connection fits", () => {
    expect(fdBudget({ limit: FIXED, fixed, mqtt: 20_000 })).toEqual({
      kind: "impossible",
      required: FIXED + 20_000,
      limit: FIXED,
    });
    expect(fdBudget({ limit: 1024, fixed, mqtt: 10 })).toMatchObject({ kind: "impossible" });
  });

  it("reads the soft limit from /proc/<pid>/limits", () => {
    const limits = [
      "Limit                     Soft Limit           Hard Limit           Units     ",
      "Max processes             95679                95679                processes ",
      "Max open files            20000                524288               files     ",
    ].join("\n");
    expect(parseOpenFileLimit(limits)).toBe(20_000);
    expect(parseOpenFileLimit(limits.replace("20000     ", "unlimited "))).toBeNull();
    expect(parseOpenFileLimit("Max processes 1 1 processes")).toBeNull();
  });
});
