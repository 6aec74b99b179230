import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DEVICE_ID_MAX_LENGTH,
  deviceIdProblem,
  isValidDeviceId,
  isValidDevicePrefix,
} from "../../src/domain/device-id.js";

describe("device ids", () => {
  it.each(["dev-1", "a", "A.b_c-9", "x".repeat(64), "0", "...", "-_-"])("accepts %j", (id) => {
    expect(isValidDeviceId(id)).toBe(true);
    expect(deviceIdProblem(id)).toBeNull();
  });

  it.each<[unknown, RegExp]>([
    ["", /empty/],
    [undefined, /empty/],
    [null, /empty/],
    [42, /empty/],
    ["x".repeat(65), /longer than 64/],
    ["dev/1", /contains "\/"/],
    ["dev+1", /contains "\+"/],
    ["dev#1", /contains "#"/],
    ["$SYS", /contains "\$"/],
    ["dev\u00001", /contains "\\u0000"/],
    ["dev 1", /contains " "/],
    ["dev\t1", /contains "\\t"/],
    ["dev-1\n", /contains "\\n"/],
    ["dévice", /contains "é"/],
    ["dev😀", /contains "😀"/],
    ["dev:1", /contains ":"/],
    ["dev*1", /contains "\*"/],
  ])("refuses %j and says why", (candidate, why) => {
    expect(isValidDeviceId(candidate)).toBe(false);
    expect(deviceIdProblem(candidate)).toMatch(why);
  });

  it("the maximum length is 64", () => {
    expect(DEVICE_ID_MAX_LENGTH).toBe(64);
  });

  it("isValidDeviceId and deviceIdProblem always agree (property)", () => {
    const unit = fc.constantFrom(..."aZ09._-/+#$ \u0000é😀");
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit, maxLength: 70 }), fc.string({ maxLength: 70 })), (candidate) => {
        return isValidDeviceId(candidate) === (deviceIdProblem(candidate) === null);
      }),
      { numRuns: 500 },
    );
  });
});

describe("group prefixes", () => {
  it.each(["fab7-", "a", "x".repeat(63)])("accepts %j", (prefix) => {
    expect(isValidDevicePrefix(prefix)).toBe(true);
  });

  it.each(["", "x".repeat(64), "fab/", "fab+", "fab#", "fab ", 7, null])("refuses %j", (prefix) => {
    // A 64-character prefix could never be followed by anything within a 64-character id.
    expect(isValidDevicePrefix(prefix)).toBe(false);
  });
});
