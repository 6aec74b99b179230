import pg from "pg";
import { describe, expect, it } from "vitest";
import { backoffMs, isRetryable, MAX_ATTEMPTS, withRetry } from "../../../src/adapters/postgres/retry.js";

function databaseError(code: string): pg.DatabaseError {
  const error = new pg.DatabaseError(`error ${code}`, 0, "error");
  error.code = code;
  return error;
}

describe("PostgreSQL retry policy", () => {
  it("retries conflicts only: serialization failure, deadlock, unique violation", () => {
    for (const code of ["40001", "40P01", "23505"]) expect(isRetryable(databaseError(code))).toBe(true);
    for (const code of ["23503", "23514", "42P01", "57014"]) expect(isRetryable(databaseError(code))).toBe(false);
    expect(isRetryable(Object.assign(new Error("x"), { code: "40001" }))).toBe(false);
  });

  it("waits a random time below an exponentially growing, capped bound", () => {
    expect(backoffMs(1, () => 0)).toBe(0);
    const bounds = [1, 2, 3, 4, 5, 6, 10].map((attempt) => backoffMs(attempt, () => 0.999999));
    expect(bounds).toEqual([...bounds].sort((a, b) => a - b));
    expect(Math.max(...bounds)).toBeLessThan(200);
  });

  it("re-runs a conflicting attempt until it succeeds, at most MAX_ATTEMPTS times", async () => {
    let runs = 0;
    const deadlockedTwice = async () => {
      if (++runs < 3) throw databaseError("40P01");
      return "ok";
    };
    expect(await withRetry(deadlockedTwice)).toBe("ok");
    expect(runs).toBe(3);
    runs = 0;
    const conflict = async () => {
      runs++;
      throw databaseError("40001");
    };
    await expect(withRetry(conflict)).rejects.toThrow("40001");
    expect(runs).toBe(MAX_ATTEMPTS);
  });

  it("passes any other failure through at once", async () => {
    let runs = 0;
    const refused = new Error("refused");
    const refuse = async () => {
      runs++;
      throw refused;
    };
    await expect(withRetry(refuse)).rejects.toBe(refused);
    expect(runs).toBe(1);
  });
});
